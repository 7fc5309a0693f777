// Softmax cross-entropy over the vocabulary, fused with its gradient (as llm.c's
// fused_classifier): the logits row is overwritten by grad_scale·(softmax − onehot).
#include <cmath>

#include "core/backend/cpu/cpu_ops.h"
#include "core/data/batch.h"
#include "core/util/parallel.h"

namespace qls::cpu {

void cross_entropy(const CrossEntropyArgs& a) {
    const std::int64_t rows = a.logits.rows(), vocab = a.logits.cols();
    parallel_for(static_cast<std::size_t>(rows), 4, [&](std::size_t first, std::size_t last) {
        for (std::size_t r = first; r < last; ++r) {
            float* z = a.logits.ptr<float>() + r * vocab;
            const std::int32_t target = a.targets.ptr<const std::int32_t>()[r];
            float* loss = a.losses.ptr<float>() + r;
            if (target == kIgnoreIndex) {
                *loss = 0.0f;
                if (a.compute_grad) std::fill(z, z + vocab, 0.0f);
                continue;
            }
            float m = z[0];
            for (std::int64_t i = 1; i < vocab; ++i) m = std::max(m, z[i]);
            double sum = 0;
            for (std::int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(z[i] - m));
            const double lse = m + std::log(sum);
            *loss = static_cast<float>(lse - z[target]);
            if (!a.compute_grad) continue;
            for (std::int64_t i = 0; i < vocab; ++i)
                z[i] = a.grad_scale * static_cast<float>(std::exp(z[i] - lse));
            z[target] -= a.grad_scale;
        }
    });
    if (a.loss_sum.empty()) return;
    double sum = 0;  // in row order, then one fp32 addition, as the device reduction rounds
    for (std::int64_t r = 0; r < rows; ++r) sum += a.losses.ptr<const float>()[r];
    a.loss_sum.ptr<float>()[0] += static_cast<float>(sum);
}

}  // namespace qls::cpu
