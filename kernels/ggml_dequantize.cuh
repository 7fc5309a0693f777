// A GGUF base's own quantized blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K) to F32,
// BF16 or F16 on the GPU: what the CUDA backend will do per frozen linear of a GGUF base kept
// in its blocks (BaseWeightsOptions::gguf_blocks), as the CPU backend does with
// ggml_dequantize_row. The per-block arithmetic is core/io/ggml_block_decode.h, shared with the
// CPU, so F32 values equal the CPU twin's bit for bit; BF16/F16 are those values rounded to
// nearest even.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/io/ggml_type.h"
#include "core/util/dtype.h"

namespace qls::cuda {

// Device pointers. `n` values: a whole number of the type's blocks.
struct GgmlDequantizeArgs {
    GgmlType type = GgmlType::Q8_0;
    const std::uint8_t* blocks = nullptr;  // n / block_size * type_size bytes
    std::int64_t n = 0;
    void* out = nullptr;  // (n) of out_dtype
    DType out_dtype = DType::F32;
};
bool ggml_dequantize_supported(GgmlType type);
void ggml_dequantize(const GgmlDequantizeArgs& a, cudaStream_t stream);

// Host in, host out, for tools and tests: the values in out_dtype (F32, BF16 or F16).
std::vector<std::byte> ggml_dequantize_cuda(GgmlType type, std::span<const std::byte> blocks, std::int64_t n,
                                            DType out_dtype);

}  // namespace qls::cuda
