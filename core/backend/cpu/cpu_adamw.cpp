// torch.optim.AdamW, single-tensor path (formats.md §4 notes the bitsandbytes variant decays
// after the step instead; the two differ by O(lr²·wd)).
#include <atomic>
#include <cmath>

#include "core/backend/cpu/cpu_ops.h"
#include "core/util/parallel.h"

namespace qls::cpu {

void adamw_step(const AdamWArgs& a) {
    const double bc1 = 1.0 - std::pow(static_cast<double>(a.beta1), static_cast<double>(a.step));
    const double bc2 = 1.0 - std::pow(static_cast<double>(a.beta2), static_cast<double>(a.step));
    const auto step_size = static_cast<float>(a.lr / bc1);
    const auto bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    const float decay = 1.0f - a.lr * a.weight_decay;
    float grad_scale = a.grad_scale;
    if (!a.control.empty()) {
        const float* control = a.control.ptr<const float>();
        if (control[3] == 0.0f) return;  // non-finite loss or gradient norm: a no-op step
        grad_scale *= control[2];
    }
    std::atomic<bool> overflowed{false};
    float* p = a.param.ptr<float>();
    const float* g = a.grad.ptr<const float>();
    float* m = a.m.ptr<float>();
    float* v = a.v.ptr<float>();
    // Elementwise, so split over the threads with the same result.
    parallel_for(static_cast<std::size_t>(a.param.numel()), 1 << 15, [&](std::size_t first, std::size_t last) {
        bool finite = true;
        for (std::size_t i = first; i < last; ++i) {
            const float gi = g[i] * grad_scale;
            p[i] *= decay;
            m[i] += (1.0f - a.beta1) * (gi - m[i]);
            v[i] = v[i] * a.beta2 + (1.0f - a.beta2) * gi * gi;
            const float denom = std::sqrt(v[i]) / bc2_sqrt + a.eps;
            p[i] -= step_size * m[i] / denom;
            finite &= std::isfinite(p[i]);
        }
        if (!finite) overflowed.store(true, std::memory_order_relaxed);
    });
    if (overflowed.load() && !a.control.empty()) a.control.ptr<float>()[4] = 1.0f;
}

}  // namespace qls::cpu
