#include "core/train/grad_clip.h"

#include <cmath>

namespace qls {

double global_grad_norm(Backend& backend, std::span<const LoraParameters::Param> params) {
    double sum = 0;
    for (const auto& p : params) sum += backend.sum_squares(p.grad);
    return std::sqrt(sum);
}

float clip_coefficient(double norm, double max_norm) {
    QLS_ASSERT(std::isfinite(norm) && norm >= 0, "clip coefficient of norm ", norm);
    if (max_norm <= 0) return 1.0f;
    // torch: max_norm / (total_norm + 1e-6) on an fp32 tensor is reciprocal() * max_norm.
    const float denom = static_cast<float>(norm) + 1e-6f;
    const float coef = (1.0f / denom) * static_cast<float>(max_norm);
    return coef < 1.0f ? coef : 1.0f;
}

}  // namespace qls
