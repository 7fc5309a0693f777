#include "core/model/gguf_rope_scaling.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "core/io/gguf_reader.h"

namespace qls {

namespace {

// Divisors are stored as fp32 after fp32 arithmetic in the converter.
constexpr double kRelTol = 1e-5;
bool near(double a, double b) { return std::abs(a - b) <= kRelTol * std::max(1.0, std::abs(b)); }

struct Sample {
    double wavelength;
    double divisor;
};

bool reproduces(const RopeScaling& s, const std::vector<Sample>& samples) {
    return std::all_of(samples.begin(), samples.end(), [&](const Sample& x) {
        return near(llama3_rope_divisor(s, x.wavelength), x.divisor);
    });
}

// With low_freq_factor 1, a divisor d between 1 and F gives the blend s = (1/d - 1/F)/(1 - 1/F),
// and s = O/((H-1)·λ) - 1/(H-1) is a line in 1/λ. Two or more such points fix H and O; one
// point fixes O for the usual H = 4; none bounds O between the wavelengths on either side.
std::int64_t solve_original_max_position(const std::vector<Sample>& samples, double factor, double& high) {
    std::vector<Sample> mids;
    double last_one = 0, first_full = INFINITY;
    for (const Sample& x : samples) {
        if (near(x.divisor, 1.0)) last_one = std::max(last_one, x.wavelength);
        else if (near(x.divisor, factor)) first_full = std::min(first_full, x.wavelength);
        else mids.push_back(x);
    }
    auto blend = [&](const Sample& x) { return (1 / x.divisor - 1 / factor) / (1 - 1 / factor); };
    high = 4.0;
    if (mids.size() >= 2) {
        const Sample& a = mids.front();
        const Sample& b = mids.back();
        const double slope = (blend(b) - blend(a)) / (1 / b.wavelength - 1 / a.wavelength);
        const double intercept = blend(a) - slope / a.wavelength;
        high = std::round((1 - 1 / intercept) * 1e6) / 1e6;
        return std::llround(slope * (high - 1));
    }
    if (mids.size() == 1) return std::llround((blend(mids[0]) * (high - 1) + 1) * mids[0].wavelength);
    // Every wavelength is below O/H or above O: O lies in (H·last_one, first_full).
    const double lo = high * last_one, hi = first_full;
    if (lo < 8192 && 8192 < hi) return 8192;  // Llama 3.1 / 3.2
    if (std::isfinite(hi)) {
        const double pow2 = std::exp2(std::floor(std::log2(hi)));
        if (pow2 > lo && pow2 < hi) return std::llround(pow2);
        return std::llround((lo + hi) / 2);
    }
    return std::llround(lo) + 1;
}

}  // namespace

double llama3_rope_divisor(const RopeScaling& s, double wavelength) {
    const double o = double(s.original_max_position);
    const double low_wavelen = o / s.low_freq_factor, high_wavelen = o / s.high_freq_factor;
    if (wavelength < high_wavelen) return 1.0;
    if (wavelength > low_wavelen) return s.factor;
    const double smooth = (o / wavelength - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    return 1 / ((1 - smooth) / s.factor + smooth);
}

std::optional<RopeScaling> llama3_scaling_from_rope_freqs(std::span<const float> divisors,
                                                          double rope_theta, std::int64_t head_dim) {
    if (divisors.empty() || std::int64_t(divisors.size()) * 2 != head_dim) return std::nullopt;
    std::vector<Sample> samples;
    double factor = 0;
    for (std::size_t i = 0; i < divisors.size(); ++i) {
        if (!std::isfinite(divisors[i]) || divisors[i] <= 0) return std::nullopt;
        const double inv_freq = std::pow(rope_theta, -double(2 * i) / double(head_dim));
        samples.push_back({2 * std::numbers::pi / inv_freq, divisors[i]});
        factor = std::max(factor, double(divisors[i]));
    }
    if (near(factor, 1.0)) {
        if (std::all_of(samples.begin(), samples.end(), [](const Sample& x) { return near(x.divisor, 1.0); }))
            return RopeScaling{};
        return std::nullopt;
    }
    RopeScaling s;
    s.type = RopeType::Llama3;
    s.factor = f32_shortest_decimal(factor);
    s.low_freq_factor = 1.0;
    s.original_max_position = solve_original_max_position(samples, s.factor, s.high_freq_factor);
    if (s.original_max_position <= 0 || !(s.high_freq_factor > 1.0)) return std::nullopt;
    if (!reproduces(s, samples)) return std::nullopt;
    return s;
}

}  // namespace qls
