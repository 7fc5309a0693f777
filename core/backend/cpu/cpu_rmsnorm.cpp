// LlamaRMSNorm (formats.md §6.3): y = w · (x · rsqrt(mean(x²) + eps)), all fp32 here.
#include <cmath>
#include <vector>

#include "core/backend/cpu/cpu_ops.h"
#include "core/util/parallel.h"

namespace qls::cpu {

void rmsnorm_forward(const RmsNormForwardArgs& a) {
    const std::int64_t rows = a.x.rows(), c = a.x.cols();
    std::vector<float> w(static_cast<std::size_t>(c));
    to_f32(a.weight, w.data(), 0, c);
    parallel_for(static_cast<std::size_t>(rows), 16, [&](std::size_t first, std::size_t last) {
        for (std::size_t r = first; r < last; ++r) {
            const float* x = a.x.ptr<const float>() + r * c;
            float* y = a.out.ptr<float>() + r * c;
            double ss = 0;
            for (std::int64_t i = 0; i < c; ++i) ss += static_cast<double>(x[i]) * x[i];
            const float rstd = 1.0f / std::sqrt(static_cast<float>(ss / c) + a.eps);
            a.rstd.ptr<float>()[r] = rstd;
            for (std::int64_t i = 0; i < c; ++i) y[i] = w[i] * (x[i] * rstd);
        }
    });
}

// dx = rstd·(w∘dy) − x·rstd³/C · Σ (w∘dy∘x)
void rmsnorm_backward(const RmsNormBackwardArgs& a) {
    const std::int64_t rows = a.x.rows(), c = a.x.cols();
    std::vector<float> w(static_cast<std::size_t>(c));
    to_f32(a.weight, w.data(), 0, c);
    const bool acc = a.dx_mode == GradMode::Accumulate;
    parallel_for(static_cast<std::size_t>(rows), 16, [&](std::size_t first, std::size_t last) {
        for (std::size_t r = first; r < last; ++r) {
            const float* x = a.x.ptr<const float>() + r * c;
            const float* dy = a.dout.ptr<const float>() + r * c;
            float* dx = a.dx.ptr<float>() + r * c;
            const float rstd = a.rstd.ptr<const float>()[r];
            double dot = 0;
            for (std::int64_t i = 0; i < c; ++i) dot += static_cast<double>(w[i]) * dy[i] * x[i];
            const float k = static_cast<float>(dot) * rstd * rstd * rstd / static_cast<float>(c);
            for (std::int64_t i = 0; i < c; ++i) {
                const float g = rstd * w[i] * dy[i] - x[i] * k;
                dx[i] = acc ? dx[i] + g : g;
            }
        }
    });
}

}  // namespace qls::cpu
