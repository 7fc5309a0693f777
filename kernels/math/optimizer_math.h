// The optimizer step's arithmetic, the cores of kernels/optimizer.cu:
// - the step control of ClipGradNormArgs (core/backend/backend.h) from Σ (grad_scale·g)² over
//   every gradient: torch.nn.utils.clip_grad_norm_'s coefficient and the finite flag, as
//   core/backend/cpu/cpu_clip_grad_norm.cpp computes them;
// - the plan of that multi-tensor sum: each gradient cut into chunks of kClipChunkElements, one
//   CTA per chunk writing its double partial sum, then one CTA summing the partials in chunk
//   order (a fixed tree, so the result does not depend on the launch);
// - torch.optim.AdamW's element update in core/backend/cpu/cpu_adamw.cpp's operation order, with
//   separately rounded operations (float_ops.h), so parameters and moments equal the CPU's bits.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/math/float_ops.h"

namespace qls::kmath {

// ---- Step control ----

constexpr int kClipThreads = 256;
constexpr std::int64_t kClipChunkElements = std::int64_t(kClipThreads) * 16;
constexpr int kClipFinalThreads = 1024;

// One gradient of the multi-tensor sum, as the device table holds it.
struct ClipEntry {
    const float* data;
    std::int64_t numel;
    std::int64_t first_chunk;  // chunks of the earlier entries
};

QLS_HD std::int64_t clip_chunks(std::int64_t numel) {
    return (numel + kClipChunkElements - 1) / kClipChunkElements;
}

// The entry that chunk c belongs to: the last one whose first_chunk <= c (entries are in order
// and none is empty).
QLS_HD std::int64_t clip_entry_of(const ClipEntry* entries, std::int64_t count, std::int64_t c) {
    std::int64_t lo = 0, hi = count - 1;
    while (lo < hi) {
        const std::int64_t mid = (lo + hi + 1) / 2;
        if (entries[mid].first_chunk <= c)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

// Thread t's part of Σ (grad_scale·g)² over chunk c of entry en: its elements t, t + threads, ...
// Each square of the double product is what the CPU adds, in double.
QLS_HD double clip_chunk_part(const ClipEntry& en, std::int64_t c, float grad_scale, int t, int threads) {
    const std::int64_t first = (c - en.first_chunk) * kClipChunkElements;
    const std::int64_t last = first + kClipChunkElements < en.numel ? first + kClipChunkElements : en.numel;
    double acc = 0;
    for (std::int64_t i = first + t; i < last; i += threads) {
        const double x = dmul(static_cast<double>(grad_scale), static_cast<double>(en.data[i]));
        acc = dadd(acc, dmul(x, x));
    }
    return acc;
}

// Thread t's part of the final sum over `count` partial sums.
QLS_HD double clip_partials_part(const double* partials, std::int64_t count, int t, int threads) {
    double acc = 0;
    for (std::int64_t i = t; i < count; i += threads) acc = dadd(acc, partials[i]);
    return acc;
}

// out[0..4] of ClipGradNormArgs from the loss and the double sum of squares.
QLS_HD void step_control(float loss, double sumsq, float grad_scale, float max_norm, float* out) {
    out[0] = loss;
    out[1] = static_cast<float>(sumsq);
    const float norm = sqrtf(out[1]);
    float coef = 1.0f;
    if (max_norm > 0) {
        // torch: max_norm / (total_norm + 1e-6) on an fp32 tensor is reciprocal() * max_norm.
        coef = mul(1.0f / add(norm, 1e-6f), max_norm);
        coef = coef < 1.0f ? coef : 1.0f;
    }
    const bool ok = finite(out[0]) && finite(out[1]);
    out[2] = ok ? mul(grad_scale, coef) : 0.0f;
    out[3] = ok ? 1.0f : 0.0f;
    out[4] = 0.0f;
}

// ---- AdamW ----

// The per-step constants, on the host, exactly as the CPU computes them.
struct AdamWConstants {
    float step_size, bc2_sqrt, decay, beta1, beta2, one_minus_beta1, one_minus_beta2, eps;
};

inline AdamWConstants adamw_constants(float lr, float beta1, float beta2, float eps, float weight_decay,
                                      std::int64_t step) {
    const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
    return {static_cast<float>(lr / bc1),
            static_cast<float>(std::sqrt(bc2)),
            1.0f - lr * weight_decay,
            beta1,
            beta2,
            1.0f - beta1,
            1.0f - beta2,
            eps};
}

// One element: decoupled decay, moments, bias-corrected step. Returns whether p stayed finite.
QLS_HD bool adamw_update(float& p, float& m, float& v, float g, float grad_scale, const AdamWConstants& k) {
    const float gi = mul(g, grad_scale);
    p = mul(p, k.decay);
    m = add(m, mul(k.one_minus_beta1, sub(gi, m)));
    v = add(mul(v, k.beta2), mul(mul(k.one_minus_beta2, gi), gi));
    const float denom = add(sqrtf(v) / k.bc2_sqrt, k.eps);
    p = sub(p, mul(k.step_size, m) / denom);
    return finite(p);
}

}  // namespace qls::kmath
