// Block dequantizers matching ggml src/ggml-quants.c (dequantize_row_q4_0, _q4_1, _q8_0, _q4_K
// with get_scale_min_k4, _q6_K) and the F16/BF16 conversions of ggml-impl.h. Each product and
// difference is its own statement so no compiler contracts them into an FMA: the results must
// equal ggml's bit for bit.
#include "core/io/ggml_dequant.h"

#include <cstdint>
#include <cstring>

#include "core/io/gguf_reader.h"
#include "core/util/error.h"
#include "core/util/half.h"
#include "core/util/parallel.h"

namespace qls {

namespace {

using u8 = std::uint8_t;

std::uint16_t load_u16(const u8* p) {
    std::uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
float load_f16(const u8* p) { return f16_to_f32(load_u16(p)); }

// Q4_0 block: d f16, qs[16]; low nibbles are elements 0..15, high nibbles 16..31.
void dequant_q4_0(const u8* b, float* y) {
    const float d = load_f16(b);
    const u8* qs = b + 2;
    for (int j = 0; j < 16; ++j) {
        y[j] = float((qs[j] & 0x0F) - 8) * d;
        y[j + 16] = float((qs[j] >> 4) - 8) * d;
    }
}

// Q4_1 block: d f16, m f16, qs[16].
void dequant_q4_1(const u8* b, float* y) {
    const float d = load_f16(b), m = load_f16(b + 2);
    const u8* qs = b + 4;
    for (int j = 0; j < 16; ++j) {
        const float lo = float(qs[j] & 0x0F) * d;
        const float hi = float(qs[j] >> 4) * d;
        y[j] = lo + m;
        y[j + 16] = hi + m;
    }
}

// Q8_0 block: d f16, qs int8[32].
void dequant_q8_0(const u8* b, float* y) {
    const float d = load_f16(b);
    for (int j = 0; j < 32; ++j) y[j] = float(static_cast<std::int8_t>(b[2 + j])) * d;
}

// The 6-bit scale and min of sub-block j from Q4_K's 12 packed bytes (get_scale_min_k4).
void scale_min_k4(int j, const u8* q, u8& sc, u8& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = u8((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        m = u8((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Q4_K block: d f16, dmin f16, scales[12], qs[128].
void dequant_q4_k(const u8* b, float* y) {
    const float d = load_f16(b), dmin = load_f16(b + 2);
    const u8* scales = b + 4;
    const u8* q = b + 16;
    for (int c = 0; c < 4; ++c, q += 32) {
        u8 sc, m;
        scale_min_k4(2 * c, scales, sc, m);
        const float d1 = d * float(sc), m1 = dmin * float(m);
        scale_min_k4(2 * c + 1, scales, sc, m);
        const float d2 = d * float(sc), m2 = dmin * float(m);
        for (int l = 0; l < 32; ++l) {
            const float lo = d1 * float(q[l] & 0xF);
            const float hi = d2 * float(q[l] >> 4);
            y[64 * c + l] = lo - m1;
            y[64 * c + 32 + l] = hi - m2;
        }
    }
}

// Q6_K block: ql[128], qh[64], scales int8[16], d f16; two halves of 128 values.
void dequant_q6_k(const u8* b, float* y) {
    const float d = load_f16(b + 208);
    for (int h = 0; h < 2; ++h, y += 128) {
        const u8* ql = b + 64 * h;
        const u8* qh = b + 128 + 32 * h;
        const auto* sc = reinterpret_cast<const std::int8_t*>(b + 192 + 8 * h);
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            const float s1 = d * float(sc[is]), s2 = d * float(sc[is + 2]);
            const float s3 = d * float(sc[is + 4]), s4 = d * float(sc[is + 6]);
            y[l] = s1 * float(q1);
            y[l + 32] = s2 * float(q2);
            y[l + 64] = s3 * float(q3);
            y[l + 96] = s4 * float(q4);
        }
    }
}

using BlockFn = void (*)(const u8*, float*);

BlockFn block_fn(GgmlType t) {
    switch (t) {
        case GgmlType::Q4_0: return dequant_q4_0;
        case GgmlType::Q4_1: return dequant_q4_1;
        case GgmlType::Q8_0: return dequant_q8_0;
        case GgmlType::Q4_K: return dequant_q4_k;
        case GgmlType::Q6_K: return dequant_q6_k;
        default: return nullptr;
    }
}

}  // namespace

bool ggml_can_dequantize(GgmlType type) {
    return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16 ||
           block_fn(type) != nullptr;
}

void ggml_dequantize_row(GgmlType type, std::span<const std::byte> src, std::span<float> dst) {
    const GgmlTypeInfo* info = ggml_type_info(type);
    QLS_ASSERT(info && ggml_can_dequantize(type), "no dequantizer for ggml type ", std::uint32_t(type));
    QLS_ASSERT(dst.size() % info->block_size == 0 &&
                   src.size() == dst.size() / info->block_size * info->type_size,
               info->name, ": ", src.size(), " bytes for ", dst.size(), " values");
    const auto* s = reinterpret_cast<const u8*>(src.data());
    float* y = dst.data();
    const std::size_t n = dst.size();
    switch (type) {
        case GgmlType::F32: std::memcpy(y, s, n * sizeof(float)); return;
        case GgmlType::F16:
            for (std::size_t i = 0; i < n; ++i) y[i] = f16_to_f32(load_u16(s + 2 * i));
            return;
        case GgmlType::BF16:
            for (std::size_t i = 0; i < n; ++i) y[i] = bf16_to_f32(load_u16(s + 2 * i));
            return;
        default: break;
    }
    const BlockFn fn = block_fn(type);
    for (std::size_t b = 0; b < n / info->block_size; ++b) fn(s + b * info->type_size, y + b * info->block_size);
}

std::vector<float> gguf_dequantize(const GgufFile& file, const GgufTensorInfo& tensor) {
    const GgmlTypeInfo* info = ggml_type_info(tensor.type);
    QLS_ASSERT(info != nullptr, "tensor '", tensor.name, "' has an unchecked type");
    QLS_CHECK(FormatError, ggml_can_dequantize(tensor.type), file.where(), "unsupported GGUF tensor type ",
              info->name, " in tensor '", tensor.name, "'");
    const std::size_t numel = std::size_t(tensor.numel());
    std::vector<float> out(numel);
    const std::size_t row = std::size_t(tensor.row_length());
    if (numel == 0) return out;
    const std::size_t rows = numel / row;
    const std::size_t row_bytes = row / info->block_size * info->type_size;
    // Aim at about 64K values per task so small tensors stay on one thread.
    const std::size_t grain = std::max<std::size_t>(1, (std::size_t(1) << 16) / row);
    parallel_for(rows, grain, [&](std::size_t begin, std::size_t end) {
        ggml_dequantize_row(tensor.type, tensor.data.subspan(begin * row_bytes, (end - begin) * row_bytes),
                            std::span<float>(out).subspan(begin * row, (end - begin) * row));
    });
    return out;
}

}  // namespace qls
