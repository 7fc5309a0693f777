// ggml src/ggml-quants.c quantize_row_q5_0_ref and quantize_row_q5_1_ref, the 32-value types
// llama.cpp falls back to when a row is not a multiple of 256 (Q4_K -> Q5_0, Q5_K -> Q5_1).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/export/ggml_quant_blocks.h"
#include "core/util/half.h"

namespace qls {

namespace {

void store_f16(std::byte* p, float v) {
    const std::uint16_t h = f32_to_f16(v);
    std::memcpy(p, &h, 2);
}

// Codes 0..31 for elements j and j + 16: low nibbles packed into qs, fifth bits into qh.
void pack_q5(const int (&q)[32], std::byte* qh_out, std::byte* qs_out) {
    std::uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        const auto lo = std::uint8_t(q[j]), hi = std::uint8_t(q[j + 16]);
        qs_out[j] = std::byte(std::uint8_t((lo & 0x0F) | ((hi & 0x0F) << 4)));
        qh |= std::uint32_t((lo & 0x10u) >> 4) << j;
        qh |= std::uint32_t((hi & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(qh_out, &qh, 4);
}

}  // namespace

void quantize_block_q5_0(std::span<const float, 32> x, std::byte* out) {
    // The signed value of largest magnitude (the first one on ties) maps to code 0.
    float amax = 0.0f, max = 0.0f;
    for (float v : x)
        if (amax < std::fabs(v)) {
            amax = std::fabs(v);
            max = v;
        }
    const float d = max / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(out, d);
    int q[32];
    // x * id lies in [-16, 16], so the truncating conversion ggml does through int8_t is exact.
    for (int j = 0; j < 32; ++j) q[j] = std::min(31, int(x[std::size_t(j)] * id + 16.5f));
    pack_q5(q, out + 2, out + 6);
}

void quantize_block_q5_1(std::span<const float, 32> x, std::byte* out) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (float v : x) {
        if (v < min) min = v;
        if (v > max) max = v;
    }
    const float d = (max - min) / 31;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(out, d);
    store_f16(out + 2, min);
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = int((x[std::size_t(j)] - min) * id + 0.5f);
    pack_q5(q, out + 4, out + 8);
}

}  // namespace qls
