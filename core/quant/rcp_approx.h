// The GPU's rcp.approx.ftz.f32, reproduced on the CPU: bitsandbytes' kernels scale every block
// by it (`1.0f / absmax` under --use_fast_math), so a bit-exact CPU quantizer needs its exact bits.
// Measured on an H100 (sm_90) by kernels/bench/measure_rcp.cu over all 2^32 floats: the hardware
// result is the correctly rounded 1/x except at a fixed set of mantissas (1,108,522 of 2^23),
// where it is the neighbouring float, the same one at every exponent; inputs and results below
// the normal range flush to zero. That whole list is too large to ship: the table keeps the 130
// mantissas of 16-bit values, so the result is exact for every bf16/fp16 value (every absmax of a
// 16-bit input) and the rounded reciprocal elsewhere (equal to the hardware at 87% of mantissas).
#pragma once
#include <cstdint>
#include <span>

namespace qls {

// Sorted entries (mantissa << 1) | up: at that 23-bit mantissa the hardware's result is one ulp
// above (up = 1) or below (up = 0) the correctly rounded reciprocal.
using RcpExceptions = std::span<const std::uint32_t>;

// The model: 1/x rounded to nearest, moved one ulp at the listed mantissas, flush-to-zero.
float reciprocal_with_exceptions(float a, RcpExceptions exceptions);

// The shipped table (core/quant/rcp_approx_table.inc): the entries of 16-bit mantissas.
RcpExceptions rcp_approx_exceptions();

// rcp.approx.ftz.f32 of a, bit for bit as the GPU computes it when a is a bf16 or fp16 value.
float reciprocal_rcp_approx_ftz(float a);

}  // namespace qls
