// One thread per ggml block: decode it with the shared block arithmetic, store in the output
// dtype. A thin shell around core/io/ggml_block_decode.h (STYLE: kernels stay thin, the numerics
// are checked on the CPU).
#include "kernels/ggml_dequantize.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "core/io/ggml_block_decode.h"
#include "core/util/error.h"
#include "kernels/cuda_check.h"
#include "kernels/device_buffer.h"

namespace qls::cuda {

namespace {

constexpr int kThreads = 128;

template <GgmlType T>
struct Block;
#define QLS_GGML_BLOCK(type, values, bytes, fn)                                                 \
    template <>                                                                              \
    struct Block<GgmlType::type> {                                                           \
        static constexpr int kValues = values, kBytes = bytes;                               \
        __device__ static void decode(const std::uint8_t* b, float* y) { ggml_block::fn(b, y); } \
    };
QLS_GGML_BLOCK(Q4_0, 32, 18, decode_q4_0)
QLS_GGML_BLOCK(Q4_1, 32, 20, decode_q4_1)
QLS_GGML_BLOCK(Q5_0, 32, 22, decode_q5_0)
QLS_GGML_BLOCK(Q5_1, 32, 24, decode_q5_1)
QLS_GGML_BLOCK(Q8_0, 32, 34, decode_q8_0)
QLS_GGML_BLOCK(Q4_K, 256, 144, decode_q4_k)
QLS_GGML_BLOCK(Q5_K, 256, 176, decode_q5_k)
QLS_GGML_BLOCK(Q6_K, 256, 210, decode_q6_k)
#undef QLS_GGML_BLOCK

__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store(__half* p, float v) { *p = __float2half_rn(v); }

template <GgmlType T, typename Out>
__global__ void __launch_bounds__(kThreads)
    ggml_dequantize_kernel(const std::uint8_t* __restrict__ blocks, std::int64_t count, Out* __restrict__ out) {
    using B = Block<T>;
    for (std::int64_t i = std::int64_t(blockIdx.x) * kThreads + threadIdx.x; i < count;
         i += std::int64_t(gridDim.x) * kThreads) {
        float y[B::kValues];
        B::decode(blocks + i * B::kBytes, y);
        Out* o = out + i * B::kValues;
#pragma unroll 8
        for (int k = 0; k < B::kValues; ++k) store(o + k, y[k]);
    }
}

template <GgmlType T, typename Out>
void launch(const GgmlDequantizeArgs& a, cudaStream_t stream) {
    const std::int64_t count = a.n / Block<T>::kValues;
    int device = 0, sms = 0;
    QLS_CUDA_CHECK(cudaGetDevice(&device));
    QLS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    // A grid-stride loop: enough blocks to fill the device several times over, no more.
    const int grid = int(std::min<std::int64_t>((count + kThreads - 1) / kThreads, std::int64_t(sms) * 8));
    ggml_dequantize_kernel<T, Out><<<grid, kThreads, 0, stream>>>(a.blocks, count, static_cast<Out*>(a.out));
    QLS_CUDA_CHECK(cudaGetLastError());
}

template <GgmlType T>
void dispatch_out(const GgmlDequantizeArgs& a, cudaStream_t stream) {
    switch (a.out_dtype) {
        case DType::F32: return launch<T, float>(a, stream);
        case DType::BF16: return launch<T, __nv_bfloat16>(a, stream);
        case DType::F16: return launch<T, __half>(a, stream);
        default: QLS_ASSERT(false, "ggml_dequantize: output dtype ", dtype_name(a.out_dtype), " is not F32, BF16 or F16");
    }
}

}  // namespace

bool ggml_dequantize_supported(GgmlType type) {
    switch (type) {
        case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1:
        case GgmlType::Q8_0: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K: return true;
        default: return false;
    }
}

void ggml_dequantize(const GgmlDequantizeArgs& a, cudaStream_t stream) {
    const GgmlTypeInfo* info = ggml_type_info(a.type);
    QLS_CHECK(DataError, info && ggml_dequantize_supported(a.type), "GGUF dequantization on the GPU: type ",
              info ? info->name : "unknown", " is not supported");
    QLS_ASSERT(a.n > 0 && a.n % info->block_size == 0, "ggml_dequantize: ", a.n, " values is no whole number of ",
               info->name, " blocks");
    switch (a.type) {
        case GgmlType::Q4_0: return dispatch_out<GgmlType::Q4_0>(a, stream);
        case GgmlType::Q4_1: return dispatch_out<GgmlType::Q4_1>(a, stream);
        case GgmlType::Q5_0: return dispatch_out<GgmlType::Q5_0>(a, stream);
        case GgmlType::Q5_1: return dispatch_out<GgmlType::Q5_1>(a, stream);
        case GgmlType::Q8_0: return dispatch_out<GgmlType::Q8_0>(a, stream);
        case GgmlType::Q4_K: return dispatch_out<GgmlType::Q4_K>(a, stream);
        case GgmlType::Q5_K: return dispatch_out<GgmlType::Q5_K>(a, stream);
        case GgmlType::Q6_K: return dispatch_out<GgmlType::Q6_K>(a, stream);
        default: break;
    }
}

std::vector<std::byte> ggml_dequantize_cuda(GgmlType type, std::span<const std::byte> blocks, std::int64_t n,
                                            DType out_dtype) {
    const GgmlTypeInfo* info = ggml_type_info(type);
    QLS_CHECK(DataError, info && n % info->block_size == 0 &&
                             blocks.size() == std::size_t(n / info->block_size) * info->type_size,
              "GGUF dequantization on the GPU: ", blocks.size(), " bytes for ", n, " values of ",
              info ? info->name : "an unknown type");
    DeviceBuffer in(blocks.size()), out(std::size_t(n) * dtype_size(out_dtype));
    in.upload(blocks);
    ggml_dequantize({type, in.as<std::uint8_t>(), n, out.data(), out_dtype}, nullptr);
    std::vector<std::byte> host(out.size());
    out.download(host);
    return host;
}

}  // namespace qls::cuda
