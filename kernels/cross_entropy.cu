// Fused softmax cross-entropy with its gradient over the logits (llm.c's fused_classifier),
// matching core/backend/cpu/cpu_cross_entropy.cpp: one CTA per row keeps an online fp32
// (max, Σ e^(z − max)), merged in block_reduce's fixed tree; the arithmetic and its stated
// differences from the CPU are kernels/math/cross_entropy_math.h. The loss sum is a second,
// single-CTA kernel that adds this call's row losses in double in a fixed order and then adds
// the result to loss_sum in fp32 once, as the CPU does.
// N rows, V vocabulary.
#include "core/data/batch.h"
#include "kernels/block_reduce.cuh"
#include "kernels/cuda_ops.h"
#include "kernels/math/cross_entropy_math.h"
#include "kernels/math/launch_plan.h"

namespace qls::cuda {

namespace {

struct MergeMaxSum {
    __device__ kmath::MaxSum operator()(kmath::MaxSum a, kmath::MaxSum b) const {
        return kmath::max_sum_merge(a, b);
    }
};

__global__ void __launch_bounds__(kmath::kCrossEntropyMaxThreads)
    cross_entropy_kernel(void* logits, kmath::Elem e, const std::int32_t* targets, float* losses,
                         float grad_scale, bool compute_grad, std::int64_t rows, std::int64_t vocab) {
    __shared__ kmath::MaxSum shared[kmath::kCrossEntropyMaxThreads + 1];
    const int t = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
    for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const std::int64_t base = kmath::row_base(r, vocab);
        const std::int32_t target = targets[r];
        if (target == kIgnoreIndex) {  // the same for the whole CTA, so no barrier is skipped unevenly
            if (t == 0) losses[r] = 0.0f;
            if (compute_grad)
                for (std::int64_t i = t; i < vocab; i += threads) kmath::store(logits, e, base + i, 0.0f);
            continue;
        }
        // Every thread reads z_target before the reduction's barriers, so before any overwrites it.
        const float zt = kmath::load(logits, e, base + target);
        const kmath::MaxSum ms =
            block_reduce(kmath::max_sum_part(logits, e, base, vocab, t, threads), MergeMaxSum{}, shared);
        if (t == 0) losses[r] = kmath::max_sum_loss(ms, zt);
        if (!compute_grad) continue;
        const float k = kmath::softmax_grad_factor(ms, grad_scale);
        for (std::int64_t i = t; i < vocab; i += threads) {
            const float z = kmath::load(logits, e, base + i);
            kmath::store(logits, e, base + i, kmath::softmax_grad(z, ms.m, k, i == target, grad_scale));
        }
    }
}

__global__ void __launch_bounds__(kmath::kLossSumThreads)
    loss_sum_kernel(const float* losses, std::int64_t rows, float* loss_sum) {
    __shared__ double shared[kmath::kLossSumThreads + 1];
    const int t = static_cast<int>(threadIdx.x);
    const double sum =
        block_reduce(kmath::loss_sum_part(losses, rows, t, static_cast<int>(blockDim.x)), SumF64{}, shared);
    if (t == 0) loss_sum[0] = kmath::add(loss_sum[0], static_cast<float>(sum));
}

}  // namespace

void cross_entropy(const CrossEntropyArgs& a, cudaStream_t s) {
    const std::int64_t rows = a.logits.rows(), vocab = a.logits.cols();
    if (rows > 0 && vocab > 0) {
        const int threads = kmath::row_threads(vocab, kmath::kCrossEntropyMaxThreads);
        cross_entropy_kernel<<<static_cast<unsigned>(kmath::row_blocks(rows)), threads, 0, s>>>(
            a.logits.data, elem_of(a.logits.dtype), a.targets.ptr<const std::int32_t>(),
            a.losses.ptr<float>(), a.grad_scale, a.compute_grad, rows, vocab);
        check_launch("cross_entropy", describe(a.logits));
    }
    if (a.loss_sum.empty()) return;
    loss_sum_kernel<<<1, kmath::kLossSumThreads, 0, s>>>(a.losses.ptr<const float>(), rows,
                                                         a.loss_sum.ptr<float>());
    check_launch("cross_entropy loss sum", describe(a.losses));
}

}  // namespace qls::cuda
