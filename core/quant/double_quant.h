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

// torch's CUDA mean of the absmax is a float tree reduction whose order depends on the launch,
// so it is not reproducible here; this is the exact mean (in double) rounded to fp32. On the
// fixtures it equals torch's value in 38 of 44 cases and is within 2 ulp in the others.
float absmax_mean(std::span<const float> absmax);

// Quantize absmax - offset. The codes are exact given bnb's offset (the stored nested_offset).
NestedAbsmax double_quantize(std::span<const float> absmax, float offset,
                             ReciprocalFn reciprocal = reciprocal_rcp_approx_ftz);

// The fp32 absmax back: code_map[code] * absmax[i / blocksize] + offset, two roundings.
std::vector<float> dequantize_nested(const NestedAbsmax& nested);

}  // namespace qls
