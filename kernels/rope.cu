// HF rotate_half RoPE in place (formats.md §6.3), matching core/backend/cpu/cpu_rope.cpp; the
// arithmetic is kernels/math/rope_math.h. Backward rotates by the opposite angle.
// N tokens, H heads, D head dim, P table positions; x's tokens may be strided (q or k of q|k|v).
#include "kernels/cuda_ops.h"
#include "kernels/math/launch_plan.h"
#include "kernels/math/rope_math.h"

namespace qls::cuda {

namespace {

__global__ void rope_kernel(void* x, kmath::Elem e, std::int64_t pitch, std::int64_t heads, std::int64_t d,
                            const std::int32_t* positions, const float* cos_table, const float* sin_table,
                            bool inverse, std::int64_t items) {
    const std::int64_t half = d / 2;
    const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
    for (std::int64_t w = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; w < items; w += stride) {
        const kmath::RopeItem it = kmath::rope_item(w, heads, half);
        const std::int64_t at = kmath::rope_offset(it, pitch, d);
        const std::int64_t table = std::int64_t(positions[it.token]) * half + it.i;
        float x1 = kmath::load(x, e, at), x2 = kmath::load(x, e, at + half);
        kmath::rope_rotate(x1, x2, cos_table[table], sin_table[table], inverse);
        kmath::store(x, e, at, x1);
        kmath::store(x, e, at + half, x2);
    }
}

}  // namespace

void rope(const RopeArgs& a, bool inverse, cudaStream_t s) {
    const std::int64_t n = a.x.dim(0), heads = a.x.dim(1), d = a.x.dim(2);
    const std::int64_t items = n * heads * (d / 2);
    if (items == 0) return;
    const int threads = kmath::kElementwiseThreads;
    rope_kernel<<<static_cast<unsigned>(kmath::elementwise_blocks(items, threads)), threads, 0, s>>>(
        a.x.data, elem_of(a.x.dtype), a.x.row_pitch(), heads, d, a.positions.ptr<const std::int32_t>(),
        a.cos.ptr<const float>(), a.sin.ptr<const float>(), inverse, items);
    check_launch(inverse ? "rope_backward" : "rope_forward", describe(a.x));
}

}  // namespace qls::cuda
