// bitsandbytes double quantization ("compress_statistics", formats.md §2): the fp32 absmax
// minus its mean, blockwise-quantized to 8 bits over the signed dynamic map in blocks of 256
// (functional.py quantize_4bit + quantize_blockwise, kernels.cu kQuantizeBlockwise/dQuantize).
#pragma once
#include <span>
#include <vector>

#include "core/quant/quant_tables.h"
#include "core/quant/quantized_tensor.h"
#include "core/quant/rcp_approx.h"

namespace qls {

// The offset bnb subtracts: torch's CUDA float32 mean of the absmax (`absmax.mean()`), bit for
// bit as torch 2.11 computes it on an H100 (torch_cuda_mean.h); equal to bnb's stored offset in
// all 44 fixture cases.
float absmax_mean(std::span<const float> absmax);

// Quantize absmax - offset. The codes are exact given bnb's offset (the stored nested_offset).
NestedAbsmax double_quantize(std::span<const float> absmax, float offset,
                             ReciprocalFn reciprocal = reciprocal_rcp_approx_ftz);

// The fp32 absmax back: code_map[code] * absmax[i / blocksize] + offset, two roundings.
std::vector<float> dequantize_nested(const NestedAbsmax& nested);

}  // namespace qls
