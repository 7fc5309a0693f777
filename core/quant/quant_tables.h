// The value tables and code selection of bitsandbytes' 4-bit and 8-bit blockwise formats:
// NF4 / FP4 code tables and decision thresholds (formats.md §1.1-1.2, csrc/kernels.cu
// dQuantizeNF4 / dQuantizeFP4) and the signed dynamic map with its search (formats.md §2,
// functional.py create_dynamic_map, kernels.cu dQuantize).
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/quant/quantized_tensor.h"

namespace qls {

// The per-block reciprocal. bnb compiles `1.0f / absmax` with fast-math into PTX
// rcp.approx.ftz.f32 (reproduced by core/quant/rcp_approx.h); the quantizers take it as a
// parameter so that the GPU's own results can stand in where the table does not reach (fp32).
using ReciprocalFn = float (*)(float);

// CUDA's .ftz: a subnormal becomes a zero of the same sign.
inline float flush_subnormal(float v) {
    return std::fabs(v) < std::numeric_limits<float>::min() ? std::copysign(0.0f, v) : v;
}

const std::array<float, 16>& nf4_values();  // code -> value, sorted, NF4 code 7 = 0
const std::array<float, 16>& fp4_values();  // code -> value, code 8 stored as +0
const std::array<float, 16>& quant_values(QuantType type);

// Boundaries between code k and k+1 (NF4) or between magnitude ranks (FP4): the C float
// literals of kernels.cu, four of them 1 ulp away from the naive midpoint.
const std::array<float, 15>& nf4_thresholds();
const std::array<float, 7>& fp4_thresholds();

// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), rebuilt here with
// torch's fp32 linspace so that every entry matches the bits formats.md §2 lists.
const std::array<float, 256>& dynamic_signed_map();

// The kernels' decision trees, strict `>`: a value equal to a threshold takes the lower code;
// NaN (an all-zero block scaled by +inf) takes code 0.
std::uint8_t quantize_nf4_code(float s);
std::uint8_t quantize_fp4_code(float s);

// kernels.cu dQuantize<0>: binary search over the sorted map from pivot 127, then a midpoint
// test; in practice the nearest entry, with exact midpoint ties kept at the searched pivot.
std::uint8_t quantize_dynamic_code(const std::array<float, 256>& map, float s);

}  // namespace qls
