// Softmax cross-entropy over the vocabulary, the cores of kernels/cross_entropy.cu: one CTA per
// row keeps an online (max, Σ e^(z − max)) in fp32 (Milakov & Gimelshein, "Online normalizer
// calculation for softmax"), merges the threads' pairs in the fixed tree of block_reduce, then
// loss = max + log Σ − z_target and, with the gradient, grad_scale·(softmax − onehot) over the
// logits, in core/backend/cpu/cpu_cross_entropy.cpp's operation order.
// Differences from the CPU twin, which takes the max first and sums e^(z − max) in double:
// the fp32 sum (error ≲ (V/threads + log2 threads)·2^-24 relative), e^x by CUDA's expf instead
// of Cephes' (2 ulp each), and the rescaling of partial sums by e^(old max − new max).
// Non-finite logits give the CPU's results: any NaN or +inf in a row makes its loss and
// gradient NaN, a −inf logit has probability 0, a row of −inf only is NaN.
// V vocabulary.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/math/float_ops.h"
#include "kernels/math/float_store.h"

namespace qls::kmath {

// Threads of a row's CTA at most (launch_plan.h's row_threads), and of the one CTA that sums
// the losses.
constexpr int kCrossEntropyMaxThreads = 512;
constexpr int kLossSumThreads = 1024;

struct MaxSum {
    float m;  // the largest logit seen (−inf: none yet, or only −inf)
    float s;  // Σ e^(z − m) over the logits seen
};

QLS_HD MaxSum max_sum_identity() {
    return {-infinity(), 0.0f};
}

// e^(from − to), the factor that moves a sum relative to `from` onto `to` >= from; 1 when they
// are equal, infinite ones included (a sum relative to −inf is 0, or NaN after a NaN logit, and
// stays so; one relative to +inf is already NaN, as the CPU's e^(inf − inf) is).
QLS_HD float max_sum_rescale(float from, float to) {
    return from == to ? 1.0f : expf(from - to);
}

// Adds logit z. The largest logit contributes e^(z − z): 1, or NaN for +inf as on the CPU; −inf
// contributes 0 even while m is −inf (e^(−inf − m) is 0 for the row's final m unless every
// logit is −inf, which max_sum_loss handles); NaN never becomes m and makes s NaN.
QLS_HD MaxSum max_sum_add(MaxSum a, float z) {
    if (z > a.m) return {z, add(mul(a.s, max_sum_rescale(a.m, z)), expf(z - z))};
    if (z == -infinity()) return a;
    return {a.m, add(a.s, expf(z - a.m))};
}

QLS_HD MaxSum max_sum_merge(MaxSum a, MaxSum b) {
    const float m = a.m > b.m ? a.m : b.m;
    return {m, add(mul(a.s, max_sum_rescale(a.m, m)), mul(b.s, max_sum_rescale(b.m, m)))};
}

// Thread t's pair over row elements [base, base + vocab), columns t, t + threads, ...
QLS_HD MaxSum max_sum_part(const void* z, Elem e, std::int64_t base, std::int64_t vocab, int t, int threads) {
    MaxSum a = max_sum_identity();
    for (std::int64_t i = t; i < vocab; i += threads) a = max_sum_add(a, load(z, e, base + i));
    return a;
}

// −log softmax(z)[target] = m + log Σ − z_target, in double as the CPU does. A row of −inf
// only has no maximum: NaN, as the CPU's e^(−inf − (−inf)).
QLS_HD float max_sum_loss(MaxSum r, float z_target) {
    const float s = r.m == -infinity() ? quiet_nan() : r.s;
    return static_cast<float>(
        dadd(dadd(static_cast<double>(r.m), log(static_cast<double>(s))), -static_cast<double>(z_target)));
}

// grad_scale / Σ, the factor on e^(z − m) that makes the scaled softmax (rounded as the CPU does).
QLS_HD float softmax_grad_factor(MaxSum r, float grad_scale) {
    const float s = r.m == -infinity() ? quiet_nan() : r.s;
    return static_cast<float>(static_cast<double>(grad_scale) / static_cast<double>(s));
}

// The gradient of grad_scale · loss with respect to logit z.
QLS_HD float softmax_grad(float z, float m, float k, bool is_target, float grad_scale) {
    const float g = mul(expf(z - m), k);
    return is_target ? sub(g, grad_scale) : g;
}

// Thread t's part of the double sum of the row losses (one CTA of `threads` threads).
QLS_HD double loss_sum_part(const float* losses, std::int64_t rows, int t, int threads) {
    double acc = 0;
    for (std::int64_t r = t; r < rows; r += threads) acc = dadd(acc, static_cast<double>(losses[r]));
    return acc;
}

}  // namespace qls::kmath
