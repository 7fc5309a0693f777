// Softmax cross-entropy over the vocabulary, fused with its gradient (as llm.c's
// fused_classifier): the logits row is overwritten by grad_scale·(softmax − onehot).
#include <cmath>

#include "core/backend/cpu/cpu_exp.h"
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
            // Σ e^(z - m) in double, the exponentials a vectorized pass of their own: in place when
            // they become the gradient, else a block at a time beside the row.
            double sum = 0;
            const float zt = z[target];
            if (a.compute_grad) {
                exp_shifted(z, vocab, m);
                for (std::int64_t i = 0; i < vocab; ++i) sum += z[i];
            } else {
                float block[256];
                for (std::int64_t i0 = 0; i0 < vocab; i0 += 256) {
                    const std::int64_t count = std::min<std::int64_t>(256, vocab - i0);
                    std::copy(z + i0, z + i0 + count, block);
                    exp_shifted(block, count, m);
                    for (std::int64_t i = 0; i < count; ++i) sum += block[i];
                }
            }
            *loss = static_cast<float>(m + std::log(sum) - zt);
            if (!a.compute_grad) continue;
            // softmax = e^(z - m) / Σ
            const auto k = static_cast<float>(a.grad_scale / sum);
            for (std::int64_t i = 0; i < vocab; ++i) z[i] *= k;
            z[target] -= a.grad_scale;
        }
    });
    if (a.loss_sum.empty()) return;
    double sum = 0;  // in row order, then one fp32 addition, as the device reduction rounds
    for (std::int64_t r = 0; r < rows; ++r) sum += a.losses.ptr<const float>()[r];
    a.loss_sum.ptr<float>()[0] += static_cast<float>(sum);
}

}  // namespace qls::cpu
