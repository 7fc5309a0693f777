// LlamaRMSNorm forward and backward (formats.md §6.3), matching core/backend/cpu/cpu_rmsnorm.cpp:
// one CTA per row reduces the row's statistic in double in a fixed order (block_reduce), then
// writes the row; the arithmetic is kernels/math/rmsnorm_math.h.
// N rows, C channels.
#include "kernels/block_reduce.cuh"
#include "kernels/cuda_ops.h"
#include "kernels/math/launch_plan.h"
#include "kernels/math/rmsnorm_math.h"

namespace qls::cuda {

namespace {

__global__ void __launch_bounds__(kmath::kRmsNormMaxThreads)
    rmsnorm_forward_kernel(const void* x, kmath::Elem e, const void* w, kmath::Elem we, float eps, void* out,
                           float* rstd, std::int64_t rows, std::int64_t cols) {
    __shared__ double shared[kmath::kRmsNormMaxThreads + 1];
    const int t = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
    for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const std::int64_t base = kmath::row_base(r, cols);
        const double ss =
            block_reduce(kmath::rmsnorm_sumsq_part(x, e, base, cols, t, threads), SumF64{}, shared);
        const float rs = kmath::rmsnorm_rstd(ss, cols, eps);
        if (t == 0) rstd[r] = rs;
        for (std::int64_t i = t; i < cols; i += threads)
            kmath::store(out, e, base + i,
                         kmath::rmsnorm_out(kmath::load(w, we, i), kmath::load(x, e, base + i), rs));
    }
}

__global__ void __launch_bounds__(kmath::kRmsNormMaxThreads)
    rmsnorm_backward_kernel(const void* x, const void* dy, kmath::Elem e, const void* w, kmath::Elem we,
                            const float* rstd, void* dx, bool accumulate, std::int64_t rows,
                            std::int64_t cols) {
    __shared__ double shared[kmath::kRmsNormMaxThreads + 1];
    const int t = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
    for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const std::int64_t base = kmath::row_base(r, cols);
        const double dot =
            block_reduce(kmath::rmsnorm_dot_part(w, we, x, dy, e, base, cols, t, threads), SumF64{}, shared);
        const float rs = rstd[r];
        const float k = kmath::rmsnorm_backward_k(dot, rs, cols);
        for (std::int64_t i = t; i < cols; i += threads) {
            float g = kmath::rmsnorm_dx(rs, kmath::load(w, we, i), kmath::load(dy, e, base + i),
                                        kmath::load(x, e, base + i), k);
            if (accumulate) g = kmath::add(kmath::load(dx, e, base + i), g);
            kmath::store(dx, e, base + i, g);
        }
    }
}

}  // namespace

void rmsnorm_forward(const RmsNormForwardArgs& a, cudaStream_t s) {
    const std::int64_t rows = a.x.rows(), cols = a.x.cols();
    if (rows == 0 || cols == 0) return;
    const int threads = kmath::row_threads(cols, kmath::kRmsNormMaxThreads);
    rmsnorm_forward_kernel<<<static_cast<unsigned>(kmath::row_blocks(rows)), threads, 0, s>>>(
        a.x.data, elem_of(a.x.dtype), a.weight.data, elem_of(a.weight.dtype), a.eps, a.out.data,
        a.rstd.ptr<float>(), rows, cols);
    check_launch("rmsnorm_forward", describe(a.x));
}

void rmsnorm_backward(const RmsNormBackwardArgs& a, cudaStream_t s) {
    const std::int64_t rows = a.x.rows(), cols = a.x.cols();
    if (rows == 0 || cols == 0) return;
    const int threads = kmath::row_threads(cols, kmath::kRmsNormMaxThreads);
    rmsnorm_backward_kernel<<<static_cast<unsigned>(kmath::row_blocks(rows)), threads, 0, s>>>(
        a.x.data, a.dout.data, elem_of(a.x.dtype), a.weight.data, elem_of(a.weight.dtype),
        a.rstd.ptr<const float>(), a.dx.data, a.dx_mode == GradMode::Accumulate, rows, cols);
    check_launch("rmsnorm_backward", describe(a.x));
}

}  // namespace qls::cuda
