// torch's CUDA float32 `x.mean()` of a 1-D contiguous tensor, bit for bit, on the CPU: the
// double-quant offset bitsandbytes subtracts (functional.py quantize_4bit: absmax.mean()).
// Follows PyTorch aten/src/ATen/native/cuda/Reduce.cuh (setReduceConfig, set_block_dimension,
// ReduceOp::input_vectorized_thread_reduce_impl and thread_reduce_impl with vt0 = input_vec_size
// = 4, block_x_reduce, global_reduce), ReduceMomentKernel.cu (mean_kernel_impl: factor =
// float(1) / numel) and SharedReduceOps.h (MeanOps: float sums, project = sum * factor).
// Matches torch 2.11 on an H100 at every length tried (tests/fixtures/quant/torch_mean_samples);
// the warp-shuffle order it depends on changed between torch releases (torch_cuda_mean.cpp).
//
// The SM count matters only when the input is split over several CTAs (n >= 130,561) and then
// only when ceil(ceil(n / 512) / 16) > 4 * multiprocessors: for 132 SMs, n > 4,325,376.
#pragma once
#include <cstdint>
#include <span>

namespace qls {

// setReduceConfig for a reduction along the only dimension: block.y is 1, so the input is split
// over `threads` lanes per CTA and, when each lane would sum 256 values or more, over CTAs.
// Shared with the CUDA kernel that reproduces the same order (kernels/quantize_4bit.cu).
struct TorchMeanLaunch {
    bool vectorized = false;   // config.vectorize_input: aligned 4-float loads (n >= 128)
    std::int64_t threads = 1;  // block_width, a power of two <= 512
    std::int64_t ctas = 1;     // ctas_per_output
};
TorchMeanLaunch torch_mean_launch(std::int64_t n, int multiprocessors);

// n = x.size() must be in [1, 2^31). `multiprocessors` is the device's SM count (H100 SXM: 132);
// 2048 resident threads per SM are assumed (sm_70, sm_80, sm_90; not sm_75, sm_86, sm_89).
float torch_cuda_mean(std::span<const float> x, int multiprocessors = 132);

}  // namespace qls
