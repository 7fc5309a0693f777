// GGUF tensor data to fp32, value for value as ggml's dequantize_row_* in src/ggml-quants.c
// (formats.md §9.2): F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K.
#pragma once
#include <cstddef>
#include <span>
#include <vector>

#include "core/io/ggml_type.h"

namespace qls {

class GgufFile;
struct GgufTensorInfo;

bool ggml_can_dequantize(GgmlType type);

// Decodes whole blocks: dst.size() is a multiple of the type's block size and src holds
// exactly dst.size() / block_size blocks. Single-threaded; the type must be supported.
void ggml_dequantize_row(GgmlType type, std::span<const std::byte> src, std::span<float> dst);

// Rows of `row` values each, in parallel over rows: src holds dst.size() / row whole rows of
// `type` (supported, `row` a multiple of its block size).
void ggml_dequantize_rows(GgmlType type, std::span<const std::byte> src, std::span<float> dst,
                          std::size_t row);

// The whole tensor in ggml order. Throws FormatError naming the file, the type and the tensor
// when the type is not supported.
std::vector<float> gguf_dequantize(const GgufFile& file, const GgufTensorInfo& tensor);

}  // namespace qls
