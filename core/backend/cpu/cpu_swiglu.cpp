// LlamaMLP's activation (formats.md §6.3): silu(gate) ⊙ up.
#include <cmath>

#include "core/backend/cpu/cpu_ops.h"
#include "core/util/parallel.h"

namespace qls::cpu {

namespace {
float sigmoid(float g) { return 1.0f / (1.0f + std::exp(-g)); }
}  // namespace

void swiglu_forward(const SwigluForwardArgs& a) {
    const float* g = a.gate.ptr<const float>();
    const float* u = a.up.ptr<const float>();
    float* y = a.out.ptr<float>();
    parallel_for(static_cast<std::size_t>(a.out.numel()), 1 << 14, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) y[i] = g[i] * sigmoid(g[i]) * u[i];
    });
}

// d silu(g)/dg = σ(g)·(1 + g·(1 − σ(g)))
void swiglu_backward(const SwigluBackwardArgs& a) {
    const float* g = a.gate.ptr<const float>();
    const float* u = a.up.ptr<const float>();
    const float* dy = a.dout.ptr<const float>();
    float* dg = a.dgate.ptr<float>();
    float* du = a.dup.ptr<float>();
    parallel_for(static_cast<std::size_t>(a.dout.numel()), 1 << 14, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) {
            const float s = sigmoid(g[i]);
            const float dyi = dy[i];
            du[i] = dyi * g[i] * s;
            dg[i] = dyi * u[i] * s * (1.0f + g[i] * (1.0f - s));
        }
    });
}

}  // namespace qls::cpu
