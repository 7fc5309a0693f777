// The CUDA linear layer's own elementwise kernels (cores in kernels/math/linear_math.h), called
// by its schedule (kernels/math/linear_schedule.h) between the cuBLAS GEMMs.
// count elements; rows × cols for the epilogue.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/math/float_store.h"

namespace qls::cuda {

// dst = src in fp32 · the dropout factor of element index0 + i (p = 0: a plain conversion).
void linear_to_f32_masked(const void* src, kmath::Elem e, std::int64_t count, std::uint64_t index0,
                          std::uint64_t seed, float p, float* dst, cudaStream_t s);
// acc += dinput · the dropout factor of element index0 + i.
void linear_dropout_backward(float* acc, const float* dinput, std::int64_t count, std::uint64_t index0,
                             std::uint64_t seed, float p, cudaStream_t s);
// out(rows, cols) = round(sum + bias[col] + residual); bias and residual may be null, residual
// may be out.
void linear_epilogue(const float* sum, std::int64_t rows, std::int64_t cols, const void* bias,
                     kmath::Elem bias_elem, const void* residual, void* out, kmath::Elem e, cudaStream_t s);

}  // namespace qls::cuda
