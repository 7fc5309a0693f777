// A Quantized4bit resident on the GPU: what the CUDA backend keeps per frozen 4-bit weight,
// and what the dequantize entry and the benchmark upload.
// n elements, B = ceil(n / blocksize) blocks, C = ceil(B / nested_blocksize) nested blocks.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/quant/quantized_tensor.h"
#include "kernels/dequantize_4bit.cuh"
#include "kernels/device_buffer.h"

namespace qls::cuda {

struct Quantized4bitDevice {
    QuantType type = QuantType::NF4;
    int blocksize = 64;
    DType dtype = DType::BF16;
    std::int64_t n = 0;
    DeviceBuffer packed;           // ((n + 1) / 2) uint8
    DeviceBuffer absmax;           // (B) fp32; empty when nested
    DeviceBuffer absmax_codes;     // (B) uint8, nested only
    DeviceBuffer nested_absmax;    // (C) fp32
    DeviceBuffer nested_code_map;  // (256) fp32
    float nested_offset = 0.0f;
    int nested_blocksize = 256;

    bool nested() const { return !absmax_codes.empty(); }

    // Checks every array's length against the shape and blocksizes (DataError naming the
    // field, expected and got), then copies them to the device.
    static Quantized4bitDevice upload(const Quantized4bit& q, cudaStream_t stream = nullptr);

    Dequantize4bitArgs dequantize_args(void* out, DType out_dtype) const;
};

}  // namespace qls::cuda
