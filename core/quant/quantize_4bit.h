// bitsandbytes F.quantize_4bit on CUDA (formats.md §1.2, csrc/kernels.cu kQuantizeBlockwise
// for NF4/FP4): one flat row-major array cut into blocks of `blocksize` that run across rows,
// absmax per block, s = x * reciprocal(absmax), code by strict-> thresholds, two codes per byte
// with the even element in the high nibble; optionally double-quantized absmax (§2).
//
// Agreement with the fixtures of bitsandbytes 0.50.2 (ref/bnb/, 89 cases, 3.9M values): with the
// default IEEE reciprocal every NF4 case and every fp32-input case is byte-exact. FP4 with
// bf16/fp16 inputs differs on 30 of the 461,108 values of its 12 single-quant cases (the
// double-quant twins repeat them): exact ties x/absmax = 5/24, 7/24 or 5/6 whose product lands
// one ulp either side of a threshold, because where the IEEE reciprocal is 0.35-0.49 ulp from
// 1/absmax, rcp.approx sometimes returns the other neighbour. No rule depending only on that
// distance explains all of them (mantissa 0x7c0000 at 0.49 ulp keeps the IEEE result while
// 0x160000 at 0.35 ulp does not), so exactness needs a table of the hardware's results.
#pragma once
#include <optional>

#include "core/quant/dequantize_4bit.h"  // callers of the quantizer usually dequantize too
#include "core/quant/quant_tables.h"
#include "core/quant/quantized_tensor.h"
#include "core/util/tensor_view.h"

namespace qls {

struct QuantizeOptions {
    ReciprocalFn reciprocal = reciprocal_rn_ftz;
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
