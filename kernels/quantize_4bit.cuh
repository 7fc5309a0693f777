// 4-bit blockwise quantization on the GPU, bit-exact with bitsandbytes' CUDA quantize_4bit
// (formats.md §1.2) and its double quantization of the absmax (formats.md §2).
// n elements, B = ceil(n / blocksize) first-level blocks, C = ceil(B / 256) nested blocks.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/quant/quantized_tensor.h"
#include "core/util/tensor_view.h"

namespace qls::cuda {

// Device pointers. Arrays must be 16-byte aligned (cudaMalloc's are).
struct Quantize4bitArgs {
    const void* input = nullptr;  // (n) F32, BF16 or F16
    DType dtype = DType::F32;
    std::int64_t n = 0;
    QuantType type = QuantType::NF4;
    int blocksize = 64;              // 32, 64, ..., 4096
    std::uint8_t* packed = nullptr;  // ((n + 1) / 2) even element in the high nibble
    float* absmax = nullptr;         // (B)
};
void quantize_4bit(const Quantize4bitArgs& a, cudaStream_t stream);

// offset[0] = mean(absmax) as torch's CUDA float32 `mean()` computes it on this GPU (bnb's
// offset, core/quant/torch_cuda_mean.h): equal to the CPU's torch_cuda_mean with this device's
// SM count. Stream-ordered scratch (cudaMallocAsync) for the per-CTA sums.
void absmax_mean(const float* absmax, std::int64_t num_blocks, float* offset, cudaStream_t stream);

struct DoubleQuantArgs {
    const float* absmax = nullptr;    // (B) first-level absmax
    std::int64_t num_blocks = 0;      // B
    const float* offset = nullptr;    // (1) subtracted before quantizing
    const float* code_map = nullptr;  // (256) signed dynamic map
    std::uint8_t* codes = nullptr;    // (B)
    float* nested_absmax = nullptr;   // (C) blocks of 256
};
void double_quant_absmax(const DoubleQuantArgs& a, cudaStream_t stream);

// Host in, host out, for tools and tests. Throws as the CPU quantize_4bit does: ConfigError
// for a dtype other than F32/BF16/F16 or a blocksize bnb does not offer, DataError for an
// empty tensor or a view whose size does not match its shape.
Quantized4bit quantize_4bit_cuda(const TensorView& host_input, QuantType type, int blocksize = 64,
                                 bool double_quant = false);
// Double-quantize a first-level absmax; with `offset` given, use it instead of the mean
// (to compare codes with a reference whose mean was reduced in another order).
NestedAbsmax double_quant_cuda(std::span<const float> absmax, std::optional<float> offset = std::nullopt);

// rcp.approx.ftz.f32 of each value: the reciprocal bnb's kernels scale by, whose bits no
// document gives. CPU references take it as a table to reproduce the kernels exactly.
std::vector<float> reciprocal_approx_cuda(std::span<const float> values);

}  // namespace qls::cuda
