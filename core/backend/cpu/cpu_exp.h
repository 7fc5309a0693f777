// e^x in fp32 as plain arithmetic the compiler vectorizes (glibc's expf is one call per element,
// which took a third of SwiGLU's and cross-entropy's time). Cephes' expf: x = n·ln2 + r with
// |r| <= ln2/2 (ln2 split in two so that n·ln2 is exact), e^r by its degree-7 polynomial, 2^n put
// into the exponent bits. Within 2 ulp of the exact value on [-87.3, 88.7] (test_util checks it
// against std::exp); above, +inf; below, 0 (e^x < 2^-126 there, so flushing the subnormal
// range changes no result by more than 1.2e-38); NaN stays NaN.
#pragma once
#include <bit>
#include <cstdint>
#include <limits>

// Hot elementwise loops are compiled twice, for AVX2 and for the baseline, and the dynamic
// loader picks one (GCC's function multiversioning; x86-64 ELF only).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QLS_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define QLS_CPU_CLONES
#endif

namespace qls::cpu {

inline float exp_f32(float x) {
    constexpr float kHi = 88.72283f, kLo = -87.33654f;
    // Comparisons and selects only, so that plain SSE2 vectorizes it (NaN gives kLo here, and
    // is restored at the end).
    float xc = x > kLo ? x : kLo;
    xc = xc < kHi ? xc : kHi;
    // Round to nearest by adding and subtracting 1.5·2^23 (|xc·log2 e| < 2^22).
    constexpr float kRound = 12582912.0f;
    const float n = (xc * 1.44269504088896341f + kRound) - kRound;
    const float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float er = p * r * r + r + 1.0f;
    // 2^n for n in [-126, 128] as 2^h · 2^(n-h), h = floor(n/2): each factor a normal float.
    const auto ni = static_cast<std::int32_t>(n), h = ni >> 1;
    const float s1 = std::bit_cast<float>(static_cast<std::uint32_t>(h + 127) << 23);
    const float s2 = std::bit_cast<float>(static_cast<std::uint32_t>(ni - h + 127) << 23);
    float y = er * s1 * s2;
    y = x > kHi ? std::numeric_limits<float>::infinity() : y;
    y = x < kLo ? 0.0f : y;
    return x != x ? x : y;
}

// x[i] = e^(x[i] - shift) over a row: the exponentials of a softmax.
QLS_CPU_CLONES inline void exp_shifted(float* x, std::int64_t n, float shift) {
    for (std::int64_t i = 0; i < n; ++i) x[i] = exp_f32(x[i] - shift);
}

}  // namespace qls::cpu
