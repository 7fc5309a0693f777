// Loading and storing one element of an F32, BF16 or F16 tensor as fp32, on the host and the
// device alike: the rounding every kernel does when it writes an activation (backend.h,
// "Precision": once, to nearest even). Bit-level, so a CPU test proves that a kernel's stores
// equal the CPU twin's (core/util/half.h) for every float, subnormals, infinities and NaN
// included; the device shells call these instead of the cuda_bf16/cuda_fp16 intrinsics.
#pragma once
#include <cstdint>
#include <cstring>

#include "kernels/math/host_device.h"

namespace qls::kmath {

// The element types of activations (values of qls::DType, which this header cannot include
// without pulling the core into device code; kernels/cuda_ops.h converts).
enum class Elem : std::uint8_t { F32, BF16, F16 };

QLS_HD std::uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(f);
#else
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
#endif
}

QLS_HD float bits_float(std::uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
#endif
}

QLS_HD float bf16_to_float(std::uint16_t h) { return bits_float(std::uint32_t(h) << 16); }

// Round to nearest even; a NaN stays a (quiet) NaN.
QLS_HD std::uint16_t float_to_bf16(float f) {
    const std::uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((u >> 16) | 0x40u);
    return std::uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// IEEE binary16 -> fp32, exact for every pattern.
QLS_HD float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    if (exp == 0x1F) return bits_float(sign | 0x7F800000u | (mant << 13));
    if (exp != 0) return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
    // Zero or subnormal: mant · 2^-24, exact in fp32.
    const float mag = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign ? -mag : mag;
}

// fp32 -> IEEE binary16, round to nearest even, overflow to infinity, NaN kept quiet.
QLS_HD std::uint16_t float_to_half(float f) {
    const std::uint32_t u = float_bits(f);
    const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000u);
    const std::uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return std::uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
    if (a >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds to >= 65520: infinity
    if (a < 0x38800000u) {
        // Below the smallest normal half (2^-14): a multiple of 2^-24 after rounding. Adding 0.5
        // in fp32 would round once more, so shift the significand with the sticky bits instead.
        if (a < 0x33000000u) return sign;  // < 2^-25: rounds to zero (2^-25 itself ties to 0)
        const std::uint32_t exp = a >> 23;
        const std::uint32_t mant = (a & 0x7fffffu) | 0x800000u;
        const std::uint32_t shift = 126u - exp;  // value = mant · 2^(exp-150); half ulp 2^-24
        const std::uint32_t q = mant >> shift, rest = mant & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
        const std::uint32_t r = q + ((rest > halfway || (rest == halfway && (q & 1u))) ? 1u : 0u);
        return std::uint16_t(sign | r);
    }
    // Normal: rebias the exponent, round the 13 dropped bits to nearest even.
    const std::uint32_t rebased = a - (112u << 23);
    const std::uint32_t r = (rebased + 0xfffu + ((rebased >> 13) & 1u)) >> 13;
    return std::uint16_t(sign | r);
}

QLS_HD float load(const void* base, Elem e, std::int64_t i) {
    switch (e) {
        case Elem::F32: return static_cast<const float*>(base)[i];
        case Elem::BF16: return bf16_to_float(static_cast<const std::uint16_t*>(base)[i]);
        case Elem::F16: return half_to_float(static_cast<const std::uint16_t*>(base)[i]);
    }
    return 0.0f;
}

QLS_HD void store(void* base, Elem e, std::int64_t i, float v) {
    switch (e) {
        case Elem::F32: static_cast<float*>(base)[i] = v; return;
        case Elem::BF16: static_cast<std::uint16_t*>(base)[i] = float_to_bf16(v); return;
        case Elem::F16: static_cast<std::uint16_t*>(base)[i] = float_to_half(v); return;
    }
}

// What a stored value reads back as: v rounded to the element type.
QLS_HD float rounded(Elem e, float v) {
    switch (e) {
        case Elem::F32: return v;
        case Elem::BF16: return bf16_to_float(float_to_bf16(v));
        case Elem::F16: return half_to_float(float_to_half(v));
    }
    return v;
}

}  // namespace qls::kmath
