// 4-bit blockwise dequantization on the GPU, bit-exact with bitsandbytes' CUDA
// dequantize_4bit (formats.md §1.3), the absmax taken as fp32 or rebuilt from its nested codes
// on the fly (formats.md §2 step 6).
// n elements, B = ceil(n / blocksize) blocks, C = ceil(B / nested_blocksize) nested blocks.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/quant/quantized_tensor.h"

namespace qls::cuda {

// Device pointers. packed and out must be 16-byte aligned (cudaMalloc's are).
struct Dequantize4bitArgs {
    const std::uint8_t* packed = nullptr;  // ((n + 1) / 2)
    std::int64_t n = 0;
    QuantType type = QuantType::NF4;
    int blocksize = 64;                          // 32, 64, ..., 4096
    const float* absmax = nullptr;               // (B) fp32; nullptr when the absmax is nested:
    const std::uint8_t* absmax_codes = nullptr;  // (B)
    const float* nested_absmax = nullptr;        // (C)
    const float* nested_code_map = nullptr;      // (256)
    float nested_offset = 0.0f;
    int nested_blocksize = 256;
    void* out = nullptr;  // (n) of out_dtype
    DType out_dtype = DType::BF16;
};
void dequantize_4bit(const Dequantize4bitArgs& a, cudaStream_t stream);

// Host in, host out, for tools and tests: the values in out_dtype (F32, BF16 or F16).
std::vector<std::byte> dequantize_4bit_cuda(const Quantized4bit& q, DType out_dtype);
// In q.dtype, as bnb's dequantize_4bit returns them.
inline std::vector<std::byte> dequantize_4bit_cuda(const Quantized4bit& q) {
    return dequantize_4bit_cuda(q, q.dtype);
}

}  // namespace qls::cuda
