// LlamaMLP's activation (formats.md §6.3): silu(gate) ⊙ up.
#include <cmath>

#include "core/backend/cpu/cpu_exp.h"
#include "core/backend/cpu/cpu_ops.h"
#include "core/util/parallel.h"

namespace qls::cpu {

namespace {
float sigmoid(float g) { return 1.0f / (1.0f + exp_f32(-g)); }
// g·σ(g) written so that g = -inf gives 0 (the limit) instead of -inf·0.
float silu(float g) { return g / (1.0f + exp_f32(-g)); }
// σ(g)·(1 + g·(1 − σ(g))), with its limits (1 and 0) where g·(1 − σ) would be inf·0.
float dsilu(float g) {
    if (g > 88.0f) return 1.0f;
    if (g < -88.0f) return 0.0f;
    const float s = sigmoid(g);
    return s * (1.0f + g * (1.0f - s));
}

// The rows' loops, compiled for AVX2 as well as the baseline (the loader picks one at start):
// 8 lanes instead of 4. No FMA contraction in ISO C++ mode, so both give the same bits.
QLS_CPU_CLONES void silu_mul_row(const float* g, const float* u, float* y, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = silu(g[i]) * u[i];
}

QLS_CPU_CLONES void silu_mul_backward_row(const float* g, const float* u, const float* dy, float* dg, float* du,
                                          std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        du[i] = dy[i] * silu(g[i]);
        dg[i] = dy[i] * u[i] * dsilu(g[i]);
    }
}

}  // namespace

// Row by row, so that gate and up may be column blocks of the stacked gate|up.
void swiglu_forward(const SwigluForwardArgs& a) {
    const std::int64_t cols = a.out.cols(), gp = a.gate.row_pitch(), upp = a.up.row_pitch();
    parallel_for(static_cast<std::size_t>(a.out.dim(0)), 16, [&](std::size_t b, std::size_t e) {
        for (std::size_t r = b; r < e; ++r) {
            const float* g = a.gate.ptr<const float>() + static_cast<std::int64_t>(r) * gp;
            const float* u = a.up.ptr<const float>() + static_cast<std::int64_t>(r) * upp;
            float* y = a.out.ptr<float>() + static_cast<std::int64_t>(r) * cols;
            silu_mul_row(g, u, y, cols);
        }
    });
}

void swiglu_backward(const SwigluBackwardArgs& a) {
    const std::int64_t cols = a.dout.cols();
    const std::int64_t gp = a.gate.row_pitch(), upp = a.up.row_pitch(), dgp = a.dgate.row_pitch(),
                       dup = a.dup.row_pitch();
    parallel_for(static_cast<std::size_t>(a.dout.dim(0)), 16, [&](std::size_t b, std::size_t e) {
        for (std::size_t rr = b; rr < e; ++rr) {
            const auto r = static_cast<std::int64_t>(rr);
            const float* g = a.gate.ptr<const float>() + r * gp;
            const float* u = a.up.ptr<const float>() + r * upp;
            const float* dy = a.dout.ptr<const float>() + r * cols;
            float* dg = a.dgate.ptr<float>() + r * dgp;
            float* du = a.dup.ptr<float>() + r * dup;
            silu_mul_backward_row(g, u, dy, dg, du, cols);
        }
    });
}

}  // namespace qls::cpu
