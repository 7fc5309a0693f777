// Element-for-element dtype conversion between F32, BF16 and F16, rounded once to nearest even
// by kmath::store (kernels/math/float_store.h), as cpu::store_rounded does on the CPU: base
// weights into the compute dtype, dense weights for dequantize_weight.
#include "core/backend/tensor.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_ops.h"
#include "kernels/math/launch_plan.h"

namespace qls::cuda {

namespace {

__global__ void convert_kernel(const void* __restrict__ src, kmath::Elem src_elem, void* __restrict__ dst,
                               kmath::Elem dst_elem, std::int64_t count) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
         i += stride)
        kmath::store(dst, dst_elem, i, kmath::load(src, src_elem, i));
}

}  // namespace

void convert(const Tensor& src, const Tensor& dst, cudaStream_t s) {
    QLS_ASSERT(src.numel() == dst.numel() && src.contiguous() && dst.contiguous(), "convert: ", describe(src),
               " -> ", describe(dst));
    const std::int64_t count = src.numel();
    if (count == 0) return;
    if (src.dtype == dst.dtype) {
        QLS_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, src.bytes(), cudaMemcpyDeviceToDevice, s));
        return;
    }
    const auto blocks = static_cast<unsigned>(kmath::elementwise_blocks(count, kmath::kElementwiseThreads));
    convert_kernel<<<blocks, kmath::kElementwiseThreads, 0, s>>>(src.data, elem_of(src.dtype), dst.data,
                                                                 elem_of(dst.dtype), count);
    check_launch("convert", str_cat(describe(src), " -> ", describe(dst)));
}

}  // namespace qls::cuda
