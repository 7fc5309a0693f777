// LlamaMLP's activation (formats.md §6.3): silu(gate) ⊙ up.
#include <cmath>

#include "core/backend/cpu/cpu_ops.h"
#include "core/util/parallel.h"

namespace qls::cpu {

namespace {
float sigmoid(float g) { return 1.0f / (1.0f + std::exp(-g)); }
// g·σ(g) written so that g = -inf gives 0 (the limit) instead of -inf·0.
float silu(float g) { return g / (1.0f + std::exp(-g)); }
// σ(g)·(1 + g·(1 − σ(g))), with its limits (1 and 0) where g·(1 − σ) would be inf·0.
float dsilu(float g) {
    if (g > 88.0f) return 1.0f;
    if (g < -88.0f) return 0.0f;
    const float s = sigmoid(g);
    return s * (1.0f + g * (1.0f - s));
}
}  // namespace

void swiglu_forward(const SwigluForwardArgs& a) {
    const float* g = a.gate.ptr<const float>();
    const float* u = a.up.ptr<const float>();
    float* y = a.out.ptr<float>();
    parallel_for(static_cast<std::size_t>(a.out.numel()), 1 << 14, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) y[i] = silu(g[i]) * u[i];
    });
}

void swiglu_backward(const SwigluBackwardArgs& a) {
    const float* g = a.gate.ptr<const float>();
    const float* u = a.up.ptr<const float>();
    const float* dy = a.dout.ptr<const float>();
    float* dg = a.dgate.ptr<float>();
    float* du = a.dup.ptr<float>();
    parallel_for(static_cast<std::size_t>(a.dout.numel()), 1 << 14, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) {
            du[i] = dy[i] * silu(g[i]);
            dg[i] = dy[i] * u[i] * dsilu(g[i]);
        }
    });
}

}  // namespace qls::cpu
