// Single-block encoders for the ggml types llama.cpp's K-quant file types use, value for value
// as ggml's reference quantizers in src/ggml-quants.c (quantize_row_*_ref, the path
// llama-quantize takes without an importance matrix; formats.md §9.2). Each reads one block of
// floats and writes the block's bytes; ggml_encode runs them over whole tensors.
#pragma once
#include <cstddef>
#include <span>

namespace qls {

// 32 values: d = signed absmax / -16 (f16), 5-bit codes split into qs nibbles and a qh bit mask.
inline constexpr std::size_t kQ5_0BlockBytes = 22;
void quantize_block_q5_0(std::span<const float, 32> x, std::byte* out);

// 32 values: d = (max - min) / 31 and m = min (both f16), 5-bit codes as Q5_0.
inline constexpr std::size_t kQ5_1BlockBytes = 24;
void quantize_block_q5_1(std::span<const float, 32> x, std::byte* out);

// 256 values: eight sub-blocks of 32 with 6-bit scale and min each (make_qkx2_quants), 4-bit codes.
inline constexpr std::size_t kQ4_KBlockBytes = 144;
void quantize_block_q4_k(std::span<const float, 256> x, std::byte* out);

// 256 values: as Q4_K with 5-bit codes (the fifth bit in qh).
inline constexpr std::size_t kQ5_KBlockBytes = 176;
void quantize_block_q5_k(std::span<const float, 256> x, std::byte* out);

// 256 values: sixteen sub-blocks of 16 with an int8 scale each (make_qx_quants), 6-bit codes.
inline constexpr std::size_t kQ6_KBlockBytes = 210;
void quantize_block_q6_k(std::span<const float, 256> x, std::byte* out);

}  // namespace qls
