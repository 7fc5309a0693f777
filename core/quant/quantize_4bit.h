// bitsandbytes F.quantize_4bit on CUDA (formats.md §1.2, csrc/kernels.cu kQuantizeBlockwise
// for NF4/FP4): one flat row-major array cut into blocks of `blocksize` that run across rows,
// absmax per block, s = x * reciprocal(absmax), code by strict-> thresholds, two codes per byte
// with the even element in the high nibble; optionally double-quantized absmax (§2).
//
// The reciprocal decides exact ties: FP4 on bf16/fp16 input has values with x/absmax = 5/24,
// 7/24 or 5/6 whose product lands one ulp either side of a threshold. With the GPU's
// rcp.approx.ftz.f32 (the default, rcp_approx.h) every case of bitsandbytes 0.50.2's fixtures
// (ref/bnb/, 89 cases, 3.9M values) is byte-exact; the IEEE reciprocal misses 30 such ties.
// For fp32 input the default is exact only where absmax has a 16-bit mantissa (rcp_approx.h).
#pragma once
#include <optional>

#include "core/quant/dequantize_4bit.h"  // callers of the quantizer usually dequantize too
#include "core/quant/quant_tables.h"
#include "core/quant/quantized_tensor.h"
#include "core/quant/rcp_approx.h"
#include "core/util/tensor_view.h"

namespace qls {

struct QuantizeOptions {
    ReciprocalFn reciprocal = reciprocal_rcp_approx_ftz;
    // Double quant: subtract this instead of the computed mean, to reproduce a stored state.
    std::optional<float> offset;
};

// input: F32, BF16 or F16, any shape. blocksize: a power of two in [32, 4096]. Throws
// ConfigError for a bad blocksize or dtype. Parallel over blocks; the result does not depend
// on the thread count.
Quantized4bit quantize_4bit(const TensorView& input, QuantType type, int blocksize = 64,
                            bool double_quant = false);
Quantized4bit quantize_4bit(const TensorView& input, QuantType type, int blocksize,
                            bool double_quant, const QuantizeOptions& options);

// The scalar reference twin: one element at a time through the kernels' decision trees.
Quantized4bit quantize_4bit_ref(const TensorView& input, QuantType type, int blocksize,
                                bool double_quant, const QuantizeOptions& options = {});

// Throws ConfigError unless blocksize is one bitsandbytes accepts.
void check_quant_blocksize(int blocksize);

}  // namespace qls
