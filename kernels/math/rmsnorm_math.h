// LlamaRMSNorm's arithmetic (formats.md §6.3), the cores of kernels/rmsnorm.cu, as the CPU twin
// computes it (core/backend/cpu/cpu_rmsnorm.cpp): the row statistics in double (each product of
// two floats is exact there, so only the summation order differs from the CPU's), everything
// else in fp32 with separately rounded operations (float_ops.h), so that a row's outputs equal
// the CPU's bit for bit whenever the two double sums round to the same float.
// C channels; one CTA of `threads` threads per row, thread t taking columns t, t + threads, ...
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/math/float_ops.h"
#include "kernels/math/float_store.h"

namespace qls::kmath {

// Threads of a row's CTA at most (launch_plan.h's row_threads).
constexpr int kRmsNormMaxThreads = 256;

// Thread t's part of Σ x² over row elements [base, base + cols).
QLS_HD double rmsnorm_sumsq_part(const void* x, Elem e, std::int64_t base, std::int64_t cols, int t,
                                 int threads) {
    double acc = 0;
    for (std::int64_t i = t; i < cols; i += threads) {
        const double v = load(x, e, base + i);
        acc = dadd(acc, dmul(v, v));
    }
    return acc;
}

QLS_HD float rmsnorm_rstd(double sumsq, std::int64_t cols, float eps) {
    return 1.0f / sqrtf(add(static_cast<float>(sumsq / static_cast<double>(cols)), eps));
}

// y = w · (x · rstd)
QLS_HD float rmsnorm_out(float w, float x, float rstd) {
    return mul(w, mul(x, rstd));
}

// Thread t's part of Σ w·dy·x over the row (w indexed by column, x and dy from `base`).
QLS_HD double rmsnorm_dot_part(const void* w, Elem we, const void* x, const void* dy, Elem e,
                               std::int64_t base, std::int64_t cols, int t, int threads) {
    double acc = 0;
    for (std::int64_t i = t; i < cols; i += threads) {
        const double term = dmul(dmul(load(w, we, i), load(dy, e, base + i)), load(x, e, base + i));
        acc = dadd(acc, term);
    }
    return acc;
}

// k = Σ(w·dy·x) · rstd³ / C, so that dx = rstd·w·dy − x·k.
QLS_HD float rmsnorm_backward_k(double dot, float rstd, std::int64_t cols) {
    return mul(mul(mul(static_cast<float>(dot), rstd), rstd), rstd) / static_cast<float>(cols);
}

QLS_HD float rmsnorm_dx(float rstd, float w, float dy, float x, float k) {
    return sub(mul(mul(rstd, w), dy), mul(x, k));
}

}  // namespace qls::kmath
