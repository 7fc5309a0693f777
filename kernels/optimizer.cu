// The optimizer step on the device: the step control of ClipGradNormArgs (the global gradient
// norm's clip coefficient and the finite flag, torch.nn.utils.clip_grad_norm_) and torch's AdamW,
// matching core/backend/cpu/cpu_clip_grad_norm.cpp and cpu_adamw.cpp; the arithmetic and the
// reduction plan are kernels/math/optimizer_math.h. Nothing is read back to the host: AdamW reads
// the control the clip kernel wrote.
#include <vector>

#include "kernels/block_reduce.cuh"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_ops.h"
#include "kernels/math/launch_plan.h"
#include "kernels/math/optimizer_math.h"

namespace qls::cuda {

namespace {

// One CTA per chunk: its part of Σ (grad_scale·g)², stored at the chunk's index.
__global__ void __launch_bounds__(kmath::kClipThreads)
    clip_partials_kernel(const kmath::ClipEntry* entries, std::int64_t count, std::int64_t chunks,
                         float grad_scale, double* partials) {
    __shared__ double shared[kmath::kClipThreads + 1];
    const int t = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
    for (std::int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
        const kmath::ClipEntry en = entries[kmath::clip_entry_of(entries, count, c)];
        const double part =
            block_reduce(kmath::clip_chunk_part(en, c, grad_scale, t, threads), SumF64{}, shared);
        if (t == 0) partials[c] = part;
    }
}

// One CTA: the partials in chunk order, then out[0..4].
__global__ void __launch_bounds__(kmath::kClipFinalThreads)
    clip_control_kernel(const double* partials, std::int64_t chunks, const float* loss_sum, float grad_scale,
                        float max_norm, float* out) {
    __shared__ double shared[kmath::kClipFinalThreads + 1];
    const int t = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
    const double sum =
        block_reduce(kmath::clip_partials_part(partials, chunks, t, threads), SumF64{}, shared);
    if (t == 0) kmath::step_control(loss_sum ? loss_sum[0] : 0.0f, sum, grad_scale, max_norm, out);
}

__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, std::int64_t n, float grad_scale,
                             kmath::AdamWConstants k, float* control) {
    float scale = grad_scale;
    if (control) {
        if (control[3] == 0.0f) return;  // non-finite loss or gradient norm: a no-op step
        scale = kmath::mul(grad_scale, control[2]);
    }
    bool ok = true;
    const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        float pi = p[i], mi = m[i], vi = v[i];
        const bool finite = kmath::adamw_update(pi, mi, vi, g[i], scale, k);
        ok = ok && finite;
        p[i] = pi;
        m[i] = mi;
        v[i] = vi;
    }
    if (!ok && control) control[4] = 1.0f;  // every writer writes the same value
}

}  // namespace

void clip_grad_norm(CudaBackend& be, const ClipGradNormArgs& a) {
    std::vector<kmath::ClipEntry> entries;
    std::int64_t chunks = 0;
    for (const Tensor& g : a.grads) {
        if (g.numel() == 0) continue;
        entries.push_back({g.ptr<const float>(), g.numel(), chunks});
        chunks += kmath::clip_chunks(g.numel());
    }
    const cudaStream_t s = be.stream();
    double* partials = nullptr;
    if (chunks > 0) {
        partials = static_cast<double*>(
            be.scratch(Scratch::Reduce, static_cast<std::size_t>(chunks) * sizeof(double)));
        const std::size_t table_bytes = entries.size() * sizeof(kmath::ClipEntry);
        auto* table = static_cast<kmath::ClipEntry*>(be.scratch(Scratch::Table, table_bytes));
        // From pageable memory: staged before the call returns, so `entries` may go.
        QLS_CUDA_CHECK(cudaMemcpyAsync(table, entries.data(), table_bytes, cudaMemcpyHostToDevice, s));
        clip_partials_kernel<<<static_cast<unsigned>(kmath::row_blocks(chunks)), kmath::kClipThreads, 0, s>>>(
            table, static_cast<std::int64_t>(entries.size()), chunks, a.grad_scale, partials);
        check_launch("clip_grad_norm partial sums",
                     str_cat(entries.size(), " gradients, ", chunks, " chunks"));
    }
    clip_control_kernel<<<1, kmath::kClipFinalThreads, 0, s>>>(
        partials, chunks, a.loss_sum.empty() ? nullptr : a.loss_sum.ptr<const float>(), a.grad_scale,
        a.max_norm, a.out.ptr<float>());
    check_launch("clip_grad_norm control", str_cat(chunks, " partial sums"));
}

void adamw_step(const AdamWArgs& a, cudaStream_t s) {
    const std::int64_t n = a.param.numel();
    if (n == 0) return;
    const kmath::AdamWConstants k =
        kmath::adamw_constants(a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.step);
    const int threads = kmath::kElementwiseThreads;
    adamw_kernel<<<static_cast<unsigned>(kmath::elementwise_blocks(n, threads)), threads, 0, s>>>(
        a.param.ptr<float>(), a.grad.ptr<const float>(), a.m.ptr<float>(), a.v.ptr<float>(), n, a.grad_scale,
        k, a.control.empty() ? nullptr : a.control.ptr<float>());
    check_launch("adamw_step", describe(a.param));
}

}  // namespace qls::cuda
