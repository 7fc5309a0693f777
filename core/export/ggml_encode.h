// fp32 values -> GGUF tensor bytes for the types the exporters write: F32, F16, BF16, Q8_0 and
// the K-quant file types' Q4_K, Q5_K, Q6_K, Q5_0, Q5_1, value for value as ggml's src/ggml.c
// (fp32 -> f16 / bf16 round-to-nearest-even) and src/ggml-quants.c quantize_row_*_ref do it
// (formats.md §9.2).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/io/ggml_type.h"

namespace qls {

// One Q8_0 block: 32 values -> d (fp16 of amax / 127) and 32 int8 codes roundf(x / d).
inline constexpr std::size_t kQ8_0BlockBytes = 34;
void quantize_block_q8_0(std::span<const float, 32> x, std::byte* out);

// Encodes `values` (a whole number of rows of `row_length`) as `type`; a block type needs rows
// that are multiples of its block size (32, or 256 for the K types). Parallel over blocks for
// large inputs; the bytes do not depend on the thread count. Throws ConfigError for another
// type or a row length the type cannot hold.
std::vector<std::byte> ggml_encode(GgmlType type, std::span<const float> values, std::int64_t row_length);

bool ggml_can_encode(GgmlType type);

// general.file_type for a model written mostly in `type` (formats.md §9.1): F32 0, F16 1,
// Q8_0 7, BF16 32.
std::uint32_t ggml_file_type(GgmlType type);

}  // namespace qls
