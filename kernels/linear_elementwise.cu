// The linear layer's elementwise kernels: LoRA's fp32 input with the dropout mask, dx through
// that mask, and the one rounding of the fp32 sum (kernels/math/linear_math.h, which the CPU
// test runs against cpu_linear.cpp). Grid-stride loops, one element per thread and step.
#include "kernels/cuda_ops.h"
#include "kernels/linear_elementwise.cuh"
#include "kernels/math/launch_plan.h"
#include "kernels/math/linear_math.h"

namespace qls::cuda {

namespace {

__device__ __forceinline__ std::int64_t first_index() {
    return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t grid_stride() {
    return static_cast<std::int64_t>(gridDim.x) * blockDim.x;
}

__global__ void to_f32_masked_kernel(const void* src, kmath::Elem e, std::int64_t count, std::uint64_t index0,
                                     std::uint64_t seed, float p, float* __restrict__ dst) {
    for (std::int64_t i = first_index(); i < count; i += grid_stride())
        dst[i] = kmath::lora_input_element(kmath::load(src, e, i), seed,
                                           index0 + static_cast<std::uint64_t>(i), p);
}

__global__ void dropout_backward_kernel(float* __restrict__ acc, const float* __restrict__ dinput,
                                        std::int64_t count, std::uint64_t index0, std::uint64_t seed,
                                        float p) {
    for (std::int64_t i = first_index(); i < count; i += grid_stride())
        acc[i] = kmath::dropout_backward_element(acc[i], dinput[i], seed,
                                                 index0 + static_cast<std::uint64_t>(i), p);
}

// residual may be out (no __restrict__): each element is read, then written, by one thread.
__global__ void epilogue_kernel(const float* __restrict__ sum, std::int64_t count, std::int64_t cols,
                                const void* bias, kmath::Elem bias_elem, const void* residual, void* out,
                                kmath::Elem e) {
    for (std::int64_t i = first_index(); i < count; i += grid_stride()) {
        const float b = bias ? kmath::load(bias, bias_elem, i % cols) : 0.0f;
        const float r = residual ? kmath::load(residual, e, i) : 0.0f;
        kmath::store(out, e, i, kmath::linear_epilogue(sum[i], bias != nullptr, b, residual != nullptr, r));
    }
}

unsigned blocks_for(std::int64_t count) {
    return static_cast<unsigned>(kmath::elementwise_blocks(count, kmath::kElementwiseThreads));
}

}  // namespace

void linear_to_f32_masked(const void* src, kmath::Elem e, std::int64_t count, std::uint64_t index0,
                          std::uint64_t seed, float p, float* dst, cudaStream_t s) {
    if (count == 0) return;
    to_f32_masked_kernel<<<blocks_for(count), kmath::kElementwiseThreads, 0, s>>>(src, e, count, index0, seed,
                                                                                  p, dst);
    check_launch("linear lora input", str_cat(count, " elements from ", index0, ", dropout ", p));
}

void linear_dropout_backward(float* acc, const float* dinput, std::int64_t count, std::uint64_t index0,
                             std::uint64_t seed, float p, cudaStream_t s) {
    if (count == 0) return;
    dropout_backward_kernel<<<blocks_for(count), kmath::kElementwiseThreads, 0, s>>>(acc, dinput, count,
                                                                                     index0, seed, p);
    check_launch("linear dropout backward", str_cat(count, " elements from ", index0, ", dropout ", p));
}

void linear_epilogue(const float* sum, std::int64_t rows, std::int64_t cols, const void* bias,
                     kmath::Elem bias_elem, const void* residual, void* out, kmath::Elem e, cudaStream_t s) {
    const std::int64_t count = rows * cols;
    if (count == 0) return;
    epilogue_kernel<<<blocks_for(count), kmath::kElementwiseThreads, 0, s>>>(sum, count, cols, bias,
                                                                             bias_elem, residual, out, e);
    check_launch("linear epilogue",
                 str_cat("[", rows, ", ", cols, "]", bias ? " bias" : "",
                         residual ? (residual == out ? " residual=out" : " residual") : ""));
}

}  // namespace qls::cuda
