#include "core/model/rope_table.h"

#include <cmath>
#include <numbers>

namespace qls {

std::vector<float> rope_inv_freq(const LlamaConfig& c) {
    const std::int64_t d = c.head_dim, half = d / 2;
    std::vector<float> inv(static_cast<std::size_t>(half));
    const auto base = static_cast<float>(c.rope_theta);
    for (std::int64_t i = 0; i < half; ++i)
        inv[i] = 1.0f / std::pow(base, static_cast<float>(2 * i) / static_cast<float>(d));
    const RopeScaling& s = c.rope_scaling;
    const auto factor = static_cast<float>(s.factor);
    if (s.type == RopeType::Linear) {
        for (float& f : inv) f /= factor;
    } else if (s.type == RopeType::Llama3) {
        const auto old_len = static_cast<float>(s.original_max_position);
        const auto low = static_cast<float>(s.low_freq_factor);
        const auto high = static_cast<float>(s.high_freq_factor);
        const float low_wavelen = old_len / low, high_wavelen = old_len / high;
        for (float& f : inv) {
            const float wavelen = 2.0f * std::numbers::pi_v<float> / f;
            const float scaled = wavelen > low_wavelen ? f / factor : f;
            if (wavelen < high_wavelen || wavelen > low_wavelen) {
                f = scaled;
            } else {
                const float smooth = (old_len / wavelen - low) / (high - low);
                f = (1.0f - smooth) * scaled / factor + smooth * scaled;
            }
        }
    }
    return inv;
}

RopeTable make_rope_table(const LlamaConfig& c, std::int64_t positions) {
    RopeTable t;
    const std::vector<float> inv = rope_inv_freq(c);
    t.positions = positions;
    t.half = static_cast<std::int64_t>(inv.size());
    t.cos.resize(static_cast<std::size_t>(positions * t.half));
    t.sin.resize(t.cos.size());
    for (std::int64_t p = 0; p < positions; ++p)
        for (std::int64_t i = 0; i < t.half; ++i) {
            const float angle = static_cast<float>(p) * inv[static_cast<std::size_t>(i)];
            t.cos[static_cast<std::size_t>(p * t.half + i)] = std::cos(angle);
            t.sin[static_cast<std::size_t>(p * t.half + i)] = std::sin(angle);
        }
    return t;
}

}  // namespace qls
