// ggml src/ggml-quants.c quantize_row_q4_K_ref, _q5_K_ref and _q6_K_ref with their helpers
// nearest_int, make_qkx2_quants and make_qx_quants. Every float operation keeps ggml's order
// and grouping (and this file is built with -ffp-contract=off, as ggml-base is built without
// FMA), because the chosen codes flip on the last bit of a sum.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/export/ggml_quant_blocks.h"
#include "core/util/half.h"

namespace qls {

namespace {

using u8 = std::uint8_t;
constexpr int QK_K = 256;
constexpr float kGroupMaxEps = 1e-15f;  // GROUP_MAX_EPS: below this a group counts as all zero

// Round to nearest (ties to even) by adding 1.5 * 2^23 and reading the mantissa, as ggml does;
// exact for |v| <= 2^22, and for larger inputs it wraps the same way ggml's does.
int nearest_int(float v) {
    const float biased = v + 12582912.f;
    std::int32_t i;
    std::memcpy(&i, &biased, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

void store_f16(std::byte* p, float v) {
    const std::uint16_t h = f32_to_f16(v);
    std::memcpy(p, &h, 2);
}

float f16_round(float v) { return f16_to_f32(f32_to_f16(v)); }

// make_qkx2_quants: codes L in 0..nmax with x ~ scale * L - the_min, searching nstep + 1 scales
// around nmax / (max - min) for the least weighted squared error. Returns the scale.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, u8* L, float* the_min,
                       u8* Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        std::fill_n(L, n, u8(0));
        *the_min = -min;
        return 0.f;
    }
    float iscale = float(nmax) / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = u8(std::max(0, std::min(nmax, l)));
        const float diff = scale * float(L[i]) + min - x[i];
        best_error += weights[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * float(is) + float(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = std::max(0, std::min(nmax, l));
            Laux[i] = u8(l);
            const float w = weights[i];
            sum_l += w * float(l);
            sum_l2 += w * float(l) * float(l);
            sum_xl += w * float(l) * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                const float diff = this_scale * float(Laux[i]) + this_min - x[i];
                cur_error += weights[i] * (diff * diff);
            }
            if (cur_error < best_error) {
                std::copy_n(Laux, n, L);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// make_qx_quants with rmse_type 1 and no importance weights (weights x^2): signed codes
// L - nmax in -nmax..nmax-1, trying 18 scales around nmax / max. Returns the scale.
float make_qx_quants(int n, int nmax, const float* x, std::int8_t* L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) {
        std::fill_n(L, n, std::int8_t(0));
        return 0.f;
    }
    auto code = [nmax](float v) { return std::max(-nmax, std::min(nmax - 1, nearest_int(v))); };
    float iscale = float(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = code(iscale * x[i]);
        L[i] = std::int8_t(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * float(l);
        suml2 += w * float(l) * float(l);
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(float(nmax) + 0.1f * float(is)) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = code(iscale * x[i]);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * float(l);
            suml2 += w * float(l) * float(l);
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) L[i] = std::int8_t(nmax + code(iscale * x[i]));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// The shared body of Q4_K and Q5_K: per sub-block of 32 a scale and min from make_qkx2_quants,
// both quantized to 6 bits against the block's largest (d, dmin), then the codes recomputed
// against those rounded scales. Weights: the sub-block's RMS plus |x|.
void quantize_k_block(const float* x, int nmax, float rmin, int nstep, u8* L,
                      std::byte* d_out, std::byte* scales_out) {
    float mins[QK_K / 32], scales[QK_K / 32], weights[32];
    u8 Laux[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] = make_qkx2_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    u8 packed[12] = {};
    u8 ls[QK_K / 32], lm[QK_K / 32];
    for (int j = 0; j < QK_K / 32; ++j) {
        ls[j] = std::min<u8>(63, u8(nearest_int(inv_scale * scales[j])));
        lm[j] = std::min<u8>(63, u8(nearest_int(inv_min * mins[j])));
        // Sub-blocks 0..3 take bytes 0..7 whole; 4..7 split into nibbles in bytes 8..11 and
        // the top two bits of bytes 0..7 (get_scale_min_k4 reads them back).
        if (j < 4) {
            packed[j] = ls[j];
            packed[j + 4] = lm[j];
        } else {
            packed[j + 4] = u8((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            packed[j - 4] |= u8((ls[j] >> 4) << 6);
            packed[j] |= u8((lm[j] >> 4) << 6);
        }
    }
    store_f16(d_out, max_scale / 63.f);
    store_f16(d_out + 2, max_min / 63.f);
    std::memcpy(scales_out, packed, 12);
    const float d_all = f16_round(max_scale / 63.f), dmin_all = f16_round(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; ++j) {
        const float d = d_all * float(ls[j]);
        if (d == 0.0f) continue;  // keep make_qkx2_quants' codes, as ggml does
        const float dm = dmin_all * float(lm[j]);
        for (int ii = 0; ii < 32; ++ii) {
            const int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = u8(std::max(0, std::min(nmax, l)));
        }
    }
}

}  // namespace

void quantize_block_q4_k(std::span<const float, 256> x, std::byte* out) {
    u8 L[QK_K];
    quantize_k_block(x.data(), 15, -1.f, 20, L, out, out + 4);
    // Bytes 16.. : each 32 bytes hold sub-block 2c in the low nibbles and 2c + 1 in the high.
    std::byte* q = out + 16;
    for (int j = 0; j < QK_K; j += 64, q += 32)
        for (int l = 0; l < 32; ++l) q[l] = std::byte(u8(L[j + l] | (L[j + l + 32] << 4)));
}

void quantize_block_q5_k(std::span<const float, 256> x, std::byte* out) {
    u8 L[QK_K];
    quantize_k_block(x.data(), 31, -0.5f, 15, L, out, out + 4);
    // qh (bytes 16..47): bit 2c of qh[l] is the fifth bit of element 64c + l, bit 2c + 1 that of
    // 64c + 32 + l; ql (bytes 48..) the low nibbles packed as Q4_K's.
    u8 qh[32] = {};
    std::byte* ql = out + 48;
    u8 m1 = 1, m2 = 2;
    for (int n = 0; n < QK_K; n += 64, ql += 32) {
        for (int j = 0; j < 32; ++j) {
            int l1 = L[n + j], l2 = L[n + j + 32];
            if (l1 > 15) {
                l1 -= 16;
                qh[j] |= m1;
            }
            if (l2 > 15) {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[j] = std::byte(u8(l1 | (l2 << 4)));
        }
        m1 = u8(m1 << 2);
        m2 = u8(m2 << 2);
    }
    std::memcpy(out + 16, qh, 32);
}

void quantize_block_q6_k(std::span<const float, 256> xs, std::byte* out) {
    const float* x = xs.data();
    std::int8_t L[QK_K];
    float scales[QK_K / 16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
        const float abs_scale = std::fabs(scales[ib]);
        if (abs_scale > max_abs_scale) {
            max_abs_scale = abs_scale;
            max_scale = scales[ib];
        }
    }
    if (max_abs_scale < kGroupMaxEps) {
        std::memset(out, 0, kQ6_KBlockBytes);
        return;
    }
    // Layout: ql[128], qh[64], int8 scales[16], d f16.
    const float iscale = -128.f / max_scale;
    store_f16(out + 208, 1 / iscale);
    std::int8_t sc[QK_K / 16];
    for (int ib = 0; ib < QK_K / 16; ++ib) sc[ib] = std::int8_t(std::min(127, nearest_int(iscale * scales[ib])));
    std::memcpy(out + 192, sc, sizeof sc);
    const float d_all = f16_round(1 / iscale);
    for (int j = 0; j < QK_K / 16; ++j) {
        const float d = d_all * float(sc[j]);
        if (d == 0.0f) continue;  // keep make_qx_quants' codes, as ggml does
        for (int ii = 0; ii < 16; ++ii) {
            const int l = nearest_int(x[16 * j + ii] / d);
            L[16 * j + ii] = std::int8_t(std::max(-32, std::min(31, l)) + 32);
        }
    }
    // Per half of 128: ql[l] low/high nibbles = elements l / l + 64, ql[l + 32] = l + 32 / l + 96;
    // qh[l] their top two bits at shifts 0, 2, 4, 6.
    std::byte* ql = out;
    std::byte* qh = out + 128;
    for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; ++l) {
            const auto c = [&](int k) { return u8(L[j + l + k]); };
            ql[l] = std::byte(u8((c(0) & 0xF) | ((c(64) & 0xF) << 4)));
            ql[l + 32] = std::byte(u8((c(32) & 0xF) | ((c(96) & 0xF) << 4)));
            qh[l] = std::byte(u8((c(0) >> 4) | ((c(32) >> 4) << 2) | ((c(64) >> 4) << 4) | ((c(96) >> 4) << 6)));
        }
    }
}

}  // namespace qls
