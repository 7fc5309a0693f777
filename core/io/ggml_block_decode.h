// One GGUF block -> fp32 values, value for value as ggml's dequantize_row_* in
// src/ggml-quants.c (formats.md §9.2): Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K (get_scale_min_k4),
// Q5_K and Q6_K. Shared by the CPU dequantizer (ggml_dequant.cpp) and the CUDA kernel
// (kernels/ggml_dequantize.cu), so the GPU's values are the CPU twin's by construction. Every
// product and sum goes through mul_rn / add_rn / sub_rn, each rounded on its own as ggml's C
// does: on the device they are the _rn intrinsics, which nvcc never contracts into an FMA; host
// files that include this header are compiled with -ffp-contract=off (core/CMakeLists.txt).
#pragma once
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define QLS_HD __host__ __device__ __forceinline__
#else
#define QLS_HD inline
#endif

namespace qls::ggml_block {

using u8 = std::uint8_t;

QLS_HD float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

QLS_HD float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

QLS_HD float sub_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

// Little-endian loads from unaligned block bytes.
QLS_HD std::uint16_t load_u16(const u8* p) { return std::uint16_t(p[0] | (p[1] << 8)); }
QLS_HD std::uint32_t load_u32(const u8* p) {
    return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) | (std::uint32_t(p[3]) << 24);
}

// IEEE half -> float, exact for every pattern (subnormals, infinities, NaN payloads).
QLS_HD float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    std::uint32_t bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {  // subnormal: mant · 2^-24, normalized
        int shift = 0;
        std::uint32_t m = mant;
        while (!(m & 0x400u)) {
            m <<= 1;
            ++shift;
        }
        bits = sign | (std::uint32_t(113 - shift) << 23) | ((m & 0x3FFu) << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}
QLS_HD float load_f16(const u8* p) { return half_to_float(load_u16(p)); }

// Q4_0 block (18 bytes, 32 values): d f16, qs[16]; low nibbles are elements 0..15, high 16..31.
QLS_HD void decode_q4_0(const u8* b, float* y) {
    const float d = load_f16(b);
    const u8* qs = b + 2;
    for (int j = 0; j < 16; ++j) {
        y[j] = mul_rn(float((qs[j] & 0x0F) - 8), d);
        y[j + 16] = mul_rn(float((qs[j] >> 4) - 8), d);
    }
}

// Q4_1 block (20 bytes): d f16, m f16, qs[16]; code times d plus m.
QLS_HD void decode_q4_1(const u8* b, float* y) {
    const float d = load_f16(b), m = load_f16(b + 2);
    const u8* qs = b + 4;
    for (int j = 0; j < 16; ++j) {
        y[j] = add_rn(mul_rn(float(qs[j] & 0x0F), d), m);
        y[j + 16] = add_rn(mul_rn(float(qs[j] >> 4), d), m);
    }
}

// The fifth bits of Q5_0 / Q5_1 element j (low nibble) and j + 16 (high nibble), as 0 or 16.
QLS_HD int q5_high_lo(std::uint32_t qh, int j) { return int(((qh >> j) << 4) & 0x10); }
QLS_HD int q5_high_hi(std::uint32_t qh, int j) { return int((qh >> (j + 12)) & 0x10); }

// Q5_0 block (22 bytes): d f16, qh u32, qs[16]; codes minus 16 times d.
QLS_HD void decode_q5_0(const u8* b, float* y) {
    const float d = load_f16(b);
    const std::uint32_t qh = load_u32(b + 2);
    const u8* qs = b + 6;
    for (int j = 0; j < 16; ++j) {
        y[j] = mul_rn(float(((qs[j] & 0x0F) | q5_high_lo(qh, j)) - 16), d);
        y[j + 16] = mul_rn(float(((qs[j] >> 4) | q5_high_hi(qh, j)) - 16), d);
    }
}

// Q5_1 block (24 bytes): d f16, m f16, qh u32, qs[16]; code times d plus m.
QLS_HD void decode_q5_1(const u8* b, float* y) {
    const float d = load_f16(b), m = load_f16(b + 2);
    const std::uint32_t qh = load_u32(b + 4);
    const u8* qs = b + 8;
    for (int j = 0; j < 16; ++j) {
        y[j] = add_rn(mul_rn(float((qs[j] & 0x0F) | q5_high_lo(qh, j)), d), m);
        y[j + 16] = add_rn(mul_rn(float((qs[j] >> 4) | q5_high_hi(qh, j)), d), m);
    }
}

// Q8_0 block (34 bytes): d f16, qs int8[32].
QLS_HD void decode_q8_0(const u8* b, float* y) {
    const float d = load_f16(b);
    for (int j = 0; j < 32; ++j) y[j] = mul_rn(float(static_cast<std::int8_t>(b[2 + j])), d);
}

// The 6-bit scale and min of sub-block j from the K-quants' 12 packed bytes (get_scale_min_k4).
QLS_HD void scale_min_k4(int j, const u8* q, u8& sc, u8& m) {
    if (j < 4) {
        sc = u8(q[j] & 63);
        m = u8(q[j + 4] & 63);
    } else {
        sc = u8((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        m = u8((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// The scales and mins of chunk c's two 32-value sub-blocks, d · sc and dmin · m (Q4_K, Q5_K).
QLS_HD void chunk_scales(int c, const u8* scales, float d, float dmin, float& d1, float& m1, float& d2, float& m2) {
    u8 sc, m;
    scale_min_k4(2 * c, scales, sc, m);
    d1 = mul_rn(d, float(sc));
    m1 = mul_rn(dmin, float(m));
    scale_min_k4(2 * c + 1, scales, sc, m);
    d2 = mul_rn(d, float(sc));
    m2 = mul_rn(dmin, float(m));
}

// Q4_K block (144 bytes, 256 values): d f16, dmin f16, scales[12], qs[128].
QLS_HD void decode_q4_k(const u8* b, float* y) {
    const float d = load_f16(b), dmin = load_f16(b + 2);
    const u8* scales = b + 4;
    const u8* q = b + 16;
    for (int c = 0; c < 4; ++c, q += 32) {
        float d1, m1, d2, m2;
        chunk_scales(c, scales, d, dmin, d1, m1, d2, m2);
        for (int l = 0; l < 32; ++l) {
            y[64 * c + l] = sub_rn(mul_rn(d1, float(q[l] & 0xF)), m1);
            y[64 * c + 32 + l] = sub_rn(mul_rn(d2, float(q[l] >> 4)), m2);
        }
    }
}

// Q5_K block (176 bytes): d f16, dmin f16, scales[12], qh[32], qs[128]; Q4_K with a fifth bit
// per value in qh (bit 2c for the low nibbles of chunk c, 2c + 1 for the high ones).
QLS_HD void decode_q5_k(const u8* b, float* y) {
    const float d = load_f16(b), dmin = load_f16(b + 2);
    const u8* scales = b + 4;
    const u8* qh = b + 16;
    const u8* ql = b + 48;
    for (int c = 0; c < 4; ++c, ql += 32) {
        float d1, m1, d2, m2;
        chunk_scales(c, scales, d, dmin, d1, m1, d2, m2);
        const u8 u1 = u8(1u << (2 * c)), u2 = u8(2u << (2 * c));
        for (int l = 0; l < 32; ++l) {
            y[64 * c + l] = sub_rn(mul_rn(d1, float((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0))), m1);
            y[64 * c + 32 + l] = sub_rn(mul_rn(d2, float((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0))), m2);
        }
    }
}

// Q6_K block (210 bytes): ql[128], qh[64], scales int8[16], d f16; two halves of 128 values.
QLS_HD void decode_q6_k(const u8* b, float* y) {
    const float d = load_f16(b + 208);
    for (int h = 0; h < 2; ++h, y += 128) {
        const u8* ql = b + 64 * h;
        const u8* qh = b + 128 + 32 * h;
        const u8* sc = b + 192 + 8 * h;
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = mul_rn(mul_rn(d, float(static_cast<std::int8_t>(sc[is]))), float(q1));
            y[l + 32] = mul_rn(mul_rn(d, float(static_cast<std::int8_t>(sc[is + 2]))), float(q2));
            y[l + 64] = mul_rn(mul_rn(d, float(static_cast<std::int8_t>(sc[is + 4]))), float(q3));
            y[l + 96] = mul_rn(mul_rn(d, float(static_cast<std::int8_t>(sc[is + 6]))), float(q4));
        }
    }
}

}  // namespace qls::ggml_block
