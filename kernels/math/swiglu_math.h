// LlamaMLP's activation silu(gate) ⊙ up and its gradient (formats.md §6.3), the cores of
// kernels/swiglu.cu, written as core/backend/cpu/cpu_swiglu.cpp computes them (same operation
// order, the same limits for |g| > 88). The one difference is e^x: CUDA's expf (within 2 ulp)
// here, Cephes' polynomial (within 2 ulp, cpu_exp.h) on the CPU.
// N rows, I columns; gate, up and their gradients may be column blocks (strided rows).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/math/float_ops.h"

namespace qls::kmath {

// g·σ(g) as g / (1 + e^−g): 0 in the limit g → −∞ (g/∞), g for large g.
QLS_HD float silu(float g) {
    return g / add(1.0f, expf(-g));
}

// d silu / dg = σ(g)·(1 + g·(1 − σ(g))), with its limits where g·(1 − σ) would be ∞·0.
QLS_HD float dsilu(float g) {
    if (g > 88.0f) return 1.0f;
    if (g < -88.0f) return 0.0f;
    const float s = 1.0f / add(1.0f, expf(-g));
    return mul(s, add(1.0f, mul(g, sub(1.0f, s))));
}

QLS_HD float swiglu_out(float g, float u) {
    return mul(silu(g), u);
}

// dgate = dy·u·dsilu(g), dup = dy·silu(g)
QLS_HD void swiglu_grads(float g, float u, float dy, float& dg, float& du) {
    du = mul(dy, silu(g));
    dg = mul(mul(dy, u), dsilu(g));
}

struct RowCol {
    std::int64_t row, col;
};
QLS_HD RowCol row_col(std::int64_t e, std::int64_t cols) {
    return {e / cols, e % cols};
}

}  // namespace qls::kmath
