// bitsandbytes F.dequantize_4bit (formats.md §1.3) and the nested-absmax reconstruction (§2.6).
#pragma once
#include <array>
#include <cstddef>
#include <span>
#include <vector>

#include "core/quant/quantized_tensor.h"

namespace qls {

// out[i] = value(code_i) * absmax[i / blocksize] in fp32, before bnb's final cast. FP4 codes
// 8-15 give exact negatives (code 8 gives -0.0) whatever the stored table holds at code 8.
// out.size() must equal q.numel().
void dequantize_4bit(const Quantized4bit& q, std::span<float> out);
std::vector<float> dequantize_4bit(const Quantized4bit& q);

// The kernel's code -> value table: FP4 builds negatives by sign, so code 8 is -0.0.
std::array<float, 16> dequant_values(const Quantized4bit& q);

// The bytes bnb's dequantize returns: the fp32 values rounded (RNE) to q.dtype.
std::vector<std::byte> dequantize_4bit_to_dtype(const Quantized4bit& q);

// The fp32 absmax per block; when nested, code_map[code] * nested_absmax[i / 256] + offset.
std::vector<float> dequantize_absmax(const Quantized4bit& q);

// Throws DataError when q's arrays do not fit its shape and blocksize (a corrupt checkpoint).
void validate_quantized(const Quantized4bit& q);

}  // namespace qls
