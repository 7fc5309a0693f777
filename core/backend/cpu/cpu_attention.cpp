// Causal scaled-dot-product attention with GQA (formats.md §6.3, HF eager_attention_forward with
// repeat_kv): query head h reads KV head h / (Hq / Hkv). Scores and softmax in fp32; the
// log-sum-exp per query is saved so backward recomputes the probabilities (as flash attention).
// Query t attends to key j when j <= t and both lie in the same packed segment.
#include <cmath>
#include <limits>
#include <vector>

#include "core/backend/cpu/cpu_ops.h"
#include "core/util/parallel.h"

namespace qls::cpu {

namespace {

struct Dims {
    std::int64_t batch, seq, hq, hkv, d;
    explicit Dims(const Tensor& q, const Tensor& k)
        : batch(q.dim(0)), seq(q.dim(1)), hq(q.dim(2)), hkv(k.dim(2)), d(q.dim(3)) {}
    std::int64_t q_index(std::int64_t b, std::int64_t t, std::int64_t h) const {
        return ((b * seq + t) * hq + h) * d;
    }
    std::int64_t kv_index(std::int64_t b, std::int64_t t, std::int64_t h) const {
        return ((b * seq + t) * hkv + h) * d;
    }
};

float dot(const float* a, const float* b, std::int64_t n) {
    float s = 0;
    for (std::int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

bool visible(const std::int32_t* seg, std::int64_t t, std::int64_t j) { return seg[j] == seg[t]; }

}  // namespace

void attention_forward(const AttentionForwardArgs& a) {
    const Dims dm(a.q, a.k);
    const std::int64_t group = dm.hq / dm.hkv;
    parallel_for(static_cast<std::size_t>(dm.batch * dm.hq), 1, [&](std::size_t first,
                                                                   std::size_t last) {
        std::vector<float> p(static_cast<std::size_t>(dm.seq));
        for (std::size_t task = first; task < last; ++task) {
            const std::int64_t b = static_cast<std::int64_t>(task) / dm.hq;
            const std::int64_t h = static_cast<std::int64_t>(task) % dm.hq, kvh = h / group;
            const std::int32_t* seg = a.segments.ptr<const std::int32_t>() + b * dm.seq;
            for (std::int64_t t = 0; t < dm.seq; ++t) {
                const float* q = a.q.ptr<const float>() + dm.q_index(b, t, h);
                float m = -std::numeric_limits<float>::infinity();
                for (std::int64_t j = 0; j <= t; ++j) {
                    p[j] = visible(seg, t, j)
                               ? dot(q, a.k.ptr<const float>() + dm.kv_index(b, j, kvh), dm.d) * a.scale
                               : -std::numeric_limits<float>::infinity();
                    m = std::max(m, p[j]);
                }
                double sum = 0;
                for (std::int64_t j = 0; j <= t; ++j) {
                    p[j] = std::exp(p[j] - m);
                    sum += p[j];
                }
                float* out = a.out.ptr<float>() + dm.q_index(b, t, h);
                std::fill(out, out + dm.d, 0.0f);
                const auto inv = static_cast<float>(1.0 / sum);
                for (std::int64_t j = 0; j <= t; ++j) {
                    if (p[j] == 0.0f) continue;
                    const float w = p[j] * inv;
                    const float* v = a.v.ptr<const float>() + dm.kv_index(b, j, kvh);
                    for (std::int64_t i = 0; i < dm.d; ++i) out[i] += w * v[i];
                }
                a.lse.ptr<float>()[(b * dm.hq + h) * dm.seq + t] =
                    m + static_cast<float>(std::log(sum));
            }
        }
    });
}

// With P = softmax(S): dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ∘ (dP − rowsum(dO ∘ O)),
// dQ = scale·dS·K, dK = scale·dSᵀ·Q. One task per (batch, KV head) so that the query heads
// sharing a KV head add into dK/dV from one thread, in a fixed order.
void attention_backward(const AttentionBackwardArgs& a) {
    const Dims dm(a.q, a.k);
    const std::int64_t group = dm.hq / dm.hkv;
    std::fill(a.dk.ptr<float>(), a.dk.ptr<float>() + a.dk.numel(), 0.0f);
    std::fill(a.dv.ptr<float>(), a.dv.ptr<float>() + a.dv.numel(), 0.0f);
    parallel_for(static_cast<std::size_t>(dm.batch * dm.hkv), 1, [&](std::size_t first,
                                                                    std::size_t last) {
        for (std::size_t task = first; task < last; ++task) {
            const std::int64_t b = static_cast<std::int64_t>(task) / dm.hkv;
            const std::int64_t kvh = static_cast<std::int64_t>(task) % dm.hkv;
            const std::int32_t* seg = a.segments.ptr<const std::int32_t>() + b * dm.seq;
            for (std::int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
                for (std::int64_t t = 0; t < dm.seq; ++t) {
                    const float* q = a.q.ptr<const float>() + dm.q_index(b, t, h);
                    const float* dout = a.dout.ptr<const float>() + dm.q_index(b, t, h);
                    const float* out = a.out.ptr<const float>() + dm.q_index(b, t, h);
                    float* dq = a.dq.ptr<float>() + dm.q_index(b, t, h);
                    std::fill(dq, dq + dm.d, 0.0f);
                    const float lse = a.lse.ptr<const float>()[(b * dm.hq + h) * dm.seq + t];
                    const float delta = dot(dout, out, dm.d);
                    for (std::int64_t j = 0; j <= t; ++j) {
                        if (!visible(seg, t, j)) continue;
                        const float* k = a.k.ptr<const float>() + dm.kv_index(b, j, kvh);
                        const float* v = a.v.ptr<const float>() + dm.kv_index(b, j, kvh);
                        const float p = std::exp(dot(q, k, dm.d) * a.scale - lse);
                        const float ds = p * (dot(dout, v, dm.d) - delta) * a.scale;
                        float* dk = a.dk.ptr<float>() + dm.kv_index(b, j, kvh);
                        float* dv = a.dv.ptr<float>() + dm.kv_index(b, j, kvh);
                        for (std::int64_t i = 0; i < dm.d; ++i) {
                            dq[i] += ds * k[i];
                            dk[i] += ds * q[i];
                            dv[i] += p * dout[i];
                        }
                    }
                }
            }
        }
    });
}

}  // namespace qls::cpu
