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
// and s = O/((H-1)·λ) - 1/(H-1) is a line in 1/λ. Two or more such points fix H and O (H is
// rounded as coarsely as still reproduces the divisors: fp32 leaves 3.999999 for 4); one point
// fixes O for the usual H = 4; none bounds O between the wavelengths on either side.
std::optional<RopeScaling> solve(const std::vector<Sample>& samples, double factor) {
    std::vector<Sample> mids;
    double last_one = 0, first_full = INFINITY;
    for (const Sample& x : samples) {
        if (near(x.divisor, 1.0)) last_one = std::max(last_one, x.wavelength);
        else if (near(x.divisor, factor)) first_full = std::min(first_full, x.wavelength);
        else mids.push_back(x);
    }
    auto blend = [&](const Sample& x) { return (1 / x.divisor - 1 / factor) / (1 - 1 / factor); };
    RopeScaling s{RopeType::Llama3, factor, 1.0, 4.0, 0};
    auto accept = [&](double high, double original) -> std::optional<RopeScaling> {
        if (!(high > 1.0) || !(original >= 1.0 && original < 1e15)) return std::nullopt;
        s.high_freq_factor = high;
        s.original_max_position = std::llround(original);
        return reproduces(s, samples) ? std::optional(s) : std::nullopt;
    };
    if (mids.size() >= 2) {
        const Sample& a = mids.front();
        const Sample& b = mids.back();
        const double slope = (blend(b) - blend(a)) / (1 / b.wavelength - 1 / a.wavelength);
        const double high = 1 - 1 / (blend(a) - slope / a.wavelength);
        for (double step : {1.0, 0.25, 1.0 / 16, 1.0 / 1024, 1e-6})
            if (const double h = std::round(high / step) * step; auto r = accept(h, slope * (h - 1))) return r;
        return std::nullopt;
    }
    if (mids.size() == 1) return accept(4.0, (blend(mids[0]) * 3 + 1) * mids[0].wavelength);
    // Every wavelength is below O/H or above O: O lies in (H·last_one, first_full).
    const double lo = 4 * last_one, hi = first_full;
    if (lo < 8192 && 8192 < hi) return accept(4.0, 8192);  // Llama 3.1 / 3.2
    const double pow2 = std::exp2(std::floor(std::log2(hi)));
    return accept(4.0, pow2 > lo && pow2 < hi ? pow2 : (lo + hi) / 2);
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
    return solve(samples, f32_shortest_decimal(factor));
}

}  // namespace qls
