#include "core/util/half.h"

#include <cmath>

namespace qls {

float f16_to_f32(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    const std::uint32_t mant = h & 0x3ffu;
    std::uint32_t bits;
    if (exp == 0) {
        if (mant == 0) return std::bit_cast<float>(sign);
        // Subnormal half: value = mant * 2^-24, exact in fp32.
        const float v = std::ldexp(float(mant), -24);
        return sign ? -v : v;
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    return std::bit_cast<float>(bits);
}

std::uint16_t f32_to_f16(float f) {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000u);
    const std::uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return std::uint16_t(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));  // NaN
    if (abs >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds to >= 65520: inf
    if (abs < 0x38800000u) {
        // Result is subnormal (or zero): round abs * 2^24 to an integer, nearest-even.
        const float scaled = std::bit_cast<float>(abs) * 16777216.0f;  // exact: power of two
        return std::uint16_t(sign | std::uint16_t(std::nearbyint(scaled)));
    }
    const std::uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
    return std::uint16_t(sign | ((rounded - (112u << 23)) >> 13));
}

}  // namespace qls
