// The kernels of kernels/flash_attention.cu replayed on the host, lane by lane and tile by tile,
// through the same cores (kernels/math/flash_attention_math.h) and launch plans: the forward's
// online softmax over key tiles with the warp's butterfly max and sum, the dQ kernel's tiles and
// the dK/dV kernel's query tiles, head by head. A test backend (EmulatedAttentionBackend) runs
// them in place of the CPU's attention, so every attention row of the op table checks the
// device's algorithm and order of arithmetic without a GPU.
#pragma once
#include <vector>

#include "delegating_backend.h"
#include "kernels/math/flash_attention_math.h"

namespace qls::test {

namespace attn = kmath::attn;

// A (rows, heads, D) tensor of any activation dtype in host memory, rows possibly strided.
struct HostRows {
    const Tensor* t;
    kmath::Elem e;
    float at(std::int64_t row, std::int64_t head, std::int64_t d, std::int64_t i) const {
        return kmath::load(t->data, e, row * t->row_pitch() + head * d + i);
    }
    void put(std::int64_t row, std::int64_t head, std::int64_t d, std::int64_t i, float v) const {
        kmath::store(t->data, e, row * t->row_pitch() + head * d + i, v);
    }
};

inline kmath::Elem elem(DType t) {
    return t == DType::BF16 ? kmath::Elem::BF16 : t == DType::F16 ? kmath::Elem::F16 : kmath::Elem::F32;
}

// One warp's butterfly over 32 lane values.
inline float lanes_sum(std::vector<float> v) {
    v.resize(attn::kWarp, 0.0f);
    return attn::butterfly_sum_host(v.data());
}
inline float lanes_max(std::vector<float> v) {
    v.resize(attn::kWarp, -kmath::infinity());
    return attn::butterfly_max_host(v.data());
}

// The forward kernel for every block and row: out rows and (when lse) the log-sum-exp.
template <class Bounds>
void emulate_forward(const Bounds& bounds, std::int64_t sequences, std::int64_t heads, std::int64_t group,
                     std::int64_t d, float scale, const HostRows& q, const HostRows& k, const HostRows& v,
                     const HostRows& out, float* lse, std::int64_t lse_stride) {
    const attn::ForwardPlan plan = attn::forward_plan(d, false);
    const int keys = plan.keys;
    for (std::int64_t s = 0; s < sequences; ++s) {
        const attn::SeqBounds sb = bounds(s);
        for (std::int64_t h = 0; h < heads; ++h)
            for (std::int64_t t = 0; t < sb.nq; ++t) {
                const std::int64_t pos = sb.offset + t, row = sb.q_row0 + t;
                std::vector<float> qrow(static_cast<std::size_t>(d)), acc(static_cast<std::size_t>(d), 0.0f);
                for (std::int64_t x = 0; x < d; ++x) qrow[x] = q.at(row, h, d, x);
                attn::OnlineRow st = attn::online_start();
                for (std::int64_t k0 = 0; k0 <= pos; k0 += keys) {
                    std::vector<float> scores(attn::kWarp, -kmath::infinity()), probs(attn::kWarp, 0.0f);
                    std::vector<std::vector<float>> vrows(static_cast<std::size_t>(keys));
                    for (int j = 0; j < keys && k0 + j <= pos; ++j) {
                        std::vector<float> krow(static_cast<std::size_t>(d));
                        vrows[j].resize(static_cast<std::size_t>(d));
                        for (std::int64_t x = 0; x < d; ++x) {
                            krow[x] = k.at(sb.k_row0 + k0 + j, h / group, d, x);
                            vrows[j][x] = v.at(sb.k_row0 + k0 + j, h / group, d, x);
                        }
                        scores[j] = attn::scaled_dot(qrow.data(), krow.data(), d, scale);
                    }
                    const float m = attn::online_max(st, lanes_max(scores));
                    const float rescale = attn::online_rescale(st, m);
                    for (int j = 0; j < attn::kWarp; ++j)
                        probs[j] = attn::probability(scores[j], m, j < keys && k0 + j <= pos);
                    st = attn::online_update(st, m, rescale, lanes_sum(probs));
                    for (float& a : acc) a = attn::accumulate(a, rescale);
                    for (int j = 0; j < keys && k0 + j <= pos; ++j)
                        for (std::int64_t x = 0; x < d; ++x) acc[x] = attn::accumulate_key(acc[x], probs[j], vrows[j][x]);
                }
                for (std::int64_t x = 0; x < d; ++x) out.put(row, h, d, x, attn::finalize_out(acc[x], st));
                if (lse) lse[h * lse_stride + row] = attn::finalize_lse(st);
            }
    }
}

// The backward's three kernels: Δ, dQ (per query row over key tiles) and dK/dV (per key over
// the query tiles of every head of its group, heads then tiles, rows within a tile in order).
inline void emulate_backward(const AttentionBackwardArgs& a) {
    const std::int64_t n = a.q.dim(0), hq = a.q.dim(1), hkv = a.k.dim(1), d = a.q.dim(2), group = hq / hkv;
    const kmath::Elem e = elem(a.q.dtype);
    const HostRows q{&a.q, e}, k{&a.k, e}, v{&a.v, e}, out{&a.out, e}, dout{&a.dout, e};
    const HostRows dq{&a.dq, e}, dk{&a.dk, e}, dv{&a.dv, e};
    const float* lse = a.lse.ptr<const float>();
    std::vector<float> delta(static_cast<std::size_t>(hq * n));
    for (std::int64_t h = 0; h < hq; ++h)
        for (std::int64_t row = 0; row < n; ++row) {
            std::vector<float> o(static_cast<std::size_t>(d)), g(static_cast<std::size_t>(d));
            for (std::int64_t x = 0; x < d; ++x) {
                o[x] = out.at(row, h, d, x);
                g[x] = dout.at(row, h, d, x);
            }
            delta[h * n + row] = attn::row_delta(g.data(), o.data(), d);
        }
    const std::int32_t* cu = a.cu_seqlens.ptr<const std::int32_t>();
    const std::int64_t sequences = a.cu_seqlens.numel() - 1;
    auto row_of = [&](const HostRows& r, std::int64_t row, std::int64_t head) {
        std::vector<float> x(static_cast<std::size_t>(d));
        for (std::int64_t i = 0; i < d; ++i) x[i] = r.at(row, head, d, i);
        return x;
    };
    const attn::ForwardPlan qp = attn::forward_plan(d, true);
    const attn::KeyBlockPlan kp = attn::key_block_plan(d);
    for (std::int64_t s = 0; s < sequences; ++s) {
        const attn::SeqBounds sb = attn::varlen_bounds(cu, s);
        // dQ
        for (std::int64_t h = 0; h < hq; ++h)
            for (std::int64_t t = 0; t < sb.nq; ++t) {
                const std::int64_t row = sb.q_row0 + t;
                const std::vector<float> qr = row_of(q, row, h), gr = row_of(dout, row, h);
                std::vector<float> acc(static_cast<std::size_t>(d), 0.0f);
                for (std::int64_t k0 = 0; k0 <= t; k0 += qp.keys)
                    for (std::int64_t j = k0; j < k0 + qp.keys && j <= t; ++j) {
                        const std::vector<float> kr = row_of(k, sb.k_row0 + j, h / group), vr = row_of(v, sb.k_row0 + j, h / group);
                        const float sc = attn::scaled_dot(qr.data(), kr.data(), d, a.scale);
                        const float dp = attn::scaled_dot(gr.data(), vr.data(), d, 1.0f);
                        const float ds = attn::backward_ds(attn::backward_probability(sc, lse[h * n + row], true), dp,
                                                           delta[h * n + row]);
                        for (std::int64_t x = 0; x < d; ++x) acc[x] = attn::accumulate_key(acc[x], ds, kr[x]);
                    }
                for (std::int64_t x = 0; x < d; ++x) dq.put(row, h, d, x, kmath::mul(a.scale, acc[x]));
            }
        // dK/dV: key j's block starts at kb0 = j - j % keys(); its query tiles start there.
        for (std::int64_t kvh = 0; kvh < hkv; ++kvh)
            for (std::int64_t j = 0; j < sb.nq; ++j) {
                const std::int64_t kb0 = j - j % kp.keys();
                const std::vector<float> kr = row_of(k, sb.k_row0 + j, kvh), vr = row_of(v, sb.k_row0 + j, kvh);
                std::vector<float> gk(static_cast<std::size_t>(d), 0.0f), gv(static_cast<std::size_t>(d), 0.0f);
                for (std::int64_t h = kvh * group; h < (kvh + 1) * group; ++h)
                    for (std::int64_t t0 = kb0; t0 < sb.nq; t0 += kp.query_tile)
                        for (std::int64_t t = t0; t < t0 + kp.query_tile; ++t) {
                            float p = 0.0f, ds = 0.0f;
                            std::vector<float> qr(static_cast<std::size_t>(d), 0.0f), gr(static_cast<std::size_t>(d), 0.0f);
                            if (t < sb.nq) {
                                qr = row_of(q, sb.q_row0 + t, h);
                                gr = row_of(dout, sb.q_row0 + t, h);
                            }
                            if (t < sb.nq && j <= t) {
                                const float sc = attn::scaled_dot(qr.data(), kr.data(), d, a.scale);
                                p = attn::backward_probability(sc, lse[h * n + sb.q_row0 + t], true);
                                const float dp = attn::scaled_dot(gr.data(), vr.data(), d, 1.0f);
                                ds = attn::backward_ds(p, dp, delta[h * n + sb.q_row0 + t]);
                            }
                            for (std::int64_t x = 0; x < d; ++x) {
                                gv[x] = attn::accumulate_key(gv[x], p, gr[x]);
                                gk[x] = attn::accumulate_key(gk[x], ds, qr[x]);
                            }
                        }
                for (std::int64_t x = 0; x < d; ++x) {
                    dk.put(sb.k_row0 + j, kvh, d, x, kmath::mul(a.scale, gk[x]));
                    dv.put(sb.k_row0 + j, kvh, d, x, gv[x]);
                }
            }
    }
}

class EmulatedAttentionBackend final : public DelegatingBackend {
public:
    std::string name() const override { return "CPU with the CUDA attention kernels replayed"; }

protected:
    std::size_t attention_workspace_bytes_impl(const AttentionShape& s) const override {
        return static_cast<std::size_t>(s.hq * s.tokens) * sizeof(float);
    }
    void attention_forward_impl(const AttentionForwardArgs& a) override {
        const kmath::Elem e = elem(a.q.dtype);
        const std::int32_t* cu = a.cu_seqlens.ptr<const std::int32_t>();
        emulate_forward([cu](std::int64_t s) { return attn::varlen_bounds(cu, s); }, a.cu_seqlens.numel() - 1,
                        a.q.dim(1), a.q.dim(1) / a.k.dim(1), a.q.dim(2), a.scale, {&a.q, e}, {&a.k, e}, {&a.v, e},
                        {&a.out, e}, a.lse.ptr<float>(), a.q.dim(0));
    }
    void attention_backward_impl(const AttentionBackwardArgs& a) override { emulate_backward(a); }
    void attention_decode_impl(const AttentionDecodeArgs& a) override {
        const kmath::Elem e = elem(a.q.dtype);
        const std::int64_t b = a.q.dim(0), tn = a.q.dim(1), hq = a.q.dim(2), d = a.q.dim(3);
        const std::int64_t cap = a.k_cache.dim(1), hkv = a.k_cache.dim(2), past = a.past;
        // The decode kernel reads q, the caches and out as packed rows of Hq·D / Hkv·D.
        const Tensor q = a.q.reshaped({b * tn, hq, d}), out = a.out.reshaped({b * tn, hq, d});
        const Tensor kc = a.k_cache.reshaped({b * cap, hkv, d}), vc = a.v_cache.reshaped({b * cap, hkv, d});
        emulate_forward([=](std::int64_t s) { return attn::decode_bounds(s, tn, cap, past); }, b, hq, hq / hkv, d,
                        a.scale, {&q, e}, {&kc, e}, {&vc, e}, {&out, e}, nullptr, 0);
    }
};

}  // namespace qls::test
