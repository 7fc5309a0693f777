// GGUF tensor data to fp32: F16/BF16 conversions as ggml-impl.h, quantized blocks with the
// per-block arithmetic of core/io/ggml_block_decode.h (ggml's dequantize_row_*, bit for bit),
// which the CUDA kernel shares.
#include "core/io/ggml_dequant.h"

#include <cstdint>
#include <cstring>

#include "core/io/ggml_block_decode.h"
#include "core/io/gguf_reader.h"
#include "core/util/error.h"
#include "core/util/half.h"
#include "core/util/parallel.h"

namespace qls {

namespace {

using u8 = std::uint8_t;
using ggml_block::load_u16;

using BlockFn = void (*)(const u8*, float*);

BlockFn block_fn(GgmlType t) {
    switch (t) {
        case GgmlType::Q4_0: return ggml_block::decode_q4_0;
        case GgmlType::Q4_1: return ggml_block::decode_q4_1;
        case GgmlType::Q5_0: return ggml_block::decode_q5_0;
        case GgmlType::Q5_1: return ggml_block::decode_q5_1;
        case GgmlType::Q8_0: return ggml_block::decode_q8_0;
        case GgmlType::Q4_K: return ggml_block::decode_q4_k;
        case GgmlType::Q5_K: return ggml_block::decode_q5_k;
        case GgmlType::Q6_K: return ggml_block::decode_q6_k;
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
    std::vector<float> out(std::size_t(tensor.numel()));
    ggml_dequantize_rows(tensor.type, tensor.data, out, std::size_t(tensor.row_length()));
    return out;
}

void ggml_dequantize_rows(GgmlType type, std::span<const std::byte> src, std::span<float> dst,
                          std::size_t row) {
    if (dst.empty()) return;
    const GgmlTypeInfo* info = ggml_type_info(type);
    QLS_ASSERT(info && row > 0 && row % info->block_size == 0 && dst.size() % row == 0,
               "ggml_dequantize_rows: ", dst.size(), " values in rows of ", row);
    const std::size_t rows = dst.size() / row;
    const std::size_t row_bytes = row / info->block_size * info->type_size;
    QLS_ASSERT(src.size() == rows * row_bytes, "ggml_dequantize_rows: ", src.size(), " bytes for ", rows,
               " rows of ", row_bytes);
    // Aim at about 64K values per task so small tensors stay on one thread.
    const std::size_t grain = std::max<std::size_t>(1, (std::size_t(1) << 16) / row);
    parallel_for(rows, grain, [&](std::size_t begin, std::size_t end) {
        ggml_dequantize_row(type, src.subspan(begin * row_bytes, (end - begin) * row_bytes),
                            dst.subspan(begin * row, (end - begin) * row));
    });
}

}  // namespace qls
