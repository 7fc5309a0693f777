// torch.nn.utils.clip_grad_norm_ (foreach path) as step control: the squared global norm of
// every gradient in one pass, the clip coefficient torch computes from it, and whether the
// update may run at all (Backend::clip_grad_norm).
#include <cmath>

#include "core/backend/cpu/cpu_ops.h"

namespace qls::cpu {

void clip_grad_norm(const ClipGradNormArgs& a) {
    // Double accumulation in tensor order: the device reduction rounds once into fp32 too.
    double sum = 0;
    for (const Tensor& g : a.grads) {
        const float* d = g.ptr<const float>();
        for (std::int64_t i = 0, n = g.numel(); i < n; ++i) {
            const double x = static_cast<double>(a.grad_scale) * d[i];
            sum += x * x;
        }
    }
    float* out = a.out.ptr<float>();
    out[0] = a.loss_sum.empty() ? 0.0f : a.loss_sum.ptr<const float>()[0];
    out[1] = static_cast<float>(sum);
    const float norm = std::sqrt(out[1]);
    float coef = 1.0f;
    if (a.max_norm > 0) {
        // torch: max_norm / (total_norm + 1e-6) on an fp32 tensor is reciprocal() * max_norm.
        coef = (1.0f / (norm + 1e-6f)) * a.max_norm;
        coef = coef < 1.0f ? coef : 1.0f;
    }
    const bool finite = std::isfinite(out[0]) && std::isfinite(out[1]);
    out[2] = finite ? a.grad_scale * coef : 0.0f;
    out[3] = finite ? 1.0f : 0.0f;
    out[4] = 0.0f;  // the AdamW steps of this update raise it if they write a non-finite value
}

}  // namespace qls::cpu
