// Attention of new tokens against a KV cache (generation): the same scores, softmax and GQA
// head mapping as cpu_attention.cpp, one query block at positions past..past+Tn-1.
#include <cmath>
#include <limits>
#include <vector>

#include "core/backend/cpu/cpu_ops.h"
#include "core/util/parallel.h"

namespace qls::cpu {

void attention_decode(const AttentionDecodeArgs& a) {
    const std::int64_t batch = a.q.dim(0), tn = a.q.dim(1), hq = a.q.dim(2), d = a.q.dim(3);
    const std::int64_t cap = a.k_cache.dim(1), hkv = a.k_cache.dim(2), group = hq / hkv;
    parallel_for(static_cast<std::size_t>(batch * hq), 1, [&](std::size_t first, std::size_t last) {
        std::vector<float> p(static_cast<std::size_t>(a.past + tn));
        for (std::size_t task = first; task < last; ++task) {
            const std::int64_t b = static_cast<std::int64_t>(task) / hq;
            const std::int64_t h = static_cast<std::int64_t>(task) % hq, kvh = h / group;
            for (std::int64_t t = 0; t < tn; ++t) {
                const float* q = a.q.ptr<const float>() + ((b * tn + t) * hq + h) * d;
                const std::int64_t visible = a.past + t + 1;
                float m = -std::numeric_limits<float>::infinity();
                for (std::int64_t j = 0; j < visible; ++j) {
                    const float* k = a.k_cache.ptr<const float>() + ((b * cap + j) * hkv + kvh) * d;
                    float s = 0;
                    for (std::int64_t i = 0; i < d; ++i) s += q[i] * k[i];
                    p[j] = s * a.scale;
                    m = std::max(m, p[j]);
                }
                double sum = 0;
                for (std::int64_t j = 0; j < visible; ++j) {
                    p[j] = std::exp(p[j] - m);
                    sum += p[j];
                }
                float* out = a.out.ptr<float>() + ((b * tn + t) * hq + h) * d;
                std::fill(out, out + d, 0.0f);
                const auto inv = static_cast<float>(1.0 / sum);
                for (std::int64_t j = 0; j < visible; ++j) {
                    const float w = p[j] * inv;
                    const float* v = a.v_cache.ptr<const float>() + ((b * cap + j) * hkv + kvh) * d;
                    for (std::int64_t i = 0; i < d; ++i) out[i] += w * v[i];
                }
            }
        }
    });
}

}  // namespace qls::cpu
