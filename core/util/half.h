// IEEE half and bfloat16 conversions, round-to-nearest-even as torch and ggml do them.
#pragma once
#include <bit>
#include <cstdint>

namespace qls {

inline float bf16_to_f32(std::uint16_t h) { return std::bit_cast<float>(std::uint32_t(h) << 16); }

inline std::uint16_t f32_to_bf16(float f) {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((u >> 16) | 0x40);  // quiet NaN
    return std::uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float f16_to_f32(std::uint16_t h);
std::uint16_t f32_to_f16(float f);

}  // namespace qls
