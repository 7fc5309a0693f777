// One decoder layer, forward and backward (formats.md §6.3, HF LlamaDecoderLayer):
//   h1  = x + o(attn(rope(q(n1)), rope(k(n1)), v(n1)))     n1 = rmsnorm1(x)
//   out = h1 + down(silu(gate(n2)) ⊙ up(n2))                n2 = rmsnorm2(h1)
// Every linear goes through Backend::linear_* with its LoRA view, if adapted.
#include "core/model/llama_model.h"

#include <cmath>

namespace qls {

namespace {
Tensor heads(const Tensor& t, std::int64_t n, std::int64_t h, std::int64_t d) {
    return Tensor{t.data, t.dtype, Shape{n, h, d}};
}
}  // namespace

void LlamaModel::layer_forward(std::int64_t l, const Shapes& s, const LayerActs& a,
                               const Tensor& x_full, const Tensor* out, std::uint64_t seed,
                               bool use_dropout) {
    const LlamaConfig& c = m_base.config();
    const DeviceLayer& base = m_base.layers()[static_cast<std::size_t>(l)];
    const LayerWeights& w = materialize(l);
    const std::int64_t n = s.n;
    const Tensor x = x_full.head(n);
    const auto eps = static_cast<float>(c.rms_norm_eps);
    auto lin = [&](const Tensor& in, const LinearWeight& wt, LoraTarget t, const Tensor& o) {
        LoraView v;
        const bool adapted = m_lora && m_lora->view(l, t);
        if (adapted) v = lora_view(l, t, seed, use_dropout, false);
        m_backend.linear_forward({in, &wt, adapted ? &v : nullptr, o});
    };
    const Tensor norm1 = a.norm1.head(n), q = a.q.head(n), k = a.k.head(n), v = a.v.head(n);
    const Tensor att = a.att.head(n), h1 = a.h1.head(n), norm2 = a.norm2.head(n);
    const Tensor gate = a.gate.head(n), up = a.up.head(n), act = a.act.head(n);
    const Tensor lse{a.lse.data, DType::F32, {c.num_heads, n}};
    const Tensor positions = m_positions.head(n);
    const Tensor cu_seqlens = m_cu_seqlens.head(s.sequences + 1);

    m_backend.rmsnorm_forward({x, base.attn_norm, eps, norm1, a.rstd1.head(n)});
    lin(norm1, w.q, LoraTarget::Q, q);
    lin(norm1, w.k, LoraTarget::K, k);
    lin(norm1, w.v, LoraTarget::V, v);
    m_backend.rope_forward({q.reshaped({n, c.num_heads, c.head_dim}), positions, m_rope_cos, m_rope_sin});
    m_backend.rope_forward({k.reshaped({n, c.num_kv_heads, c.head_dim}), positions, m_rope_cos, m_rope_sin});
    m_backend.attention_forward({heads(q, n, c.num_heads, c.head_dim), heads(k, n, c.num_kv_heads, c.head_dim),
                                 heads(v, n, c.num_kv_heads, c.head_dim), cu_seqlens, s.max_seqlen,
                                 1.0f / std::sqrt(static_cast<float>(c.head_dim)),
                                 heads(att, n, c.num_heads, c.head_dim), lse, m_attention_workspace});
    const Tensor tmp = m_tmp.head(n);
    lin(att, w.o, LoraTarget::O, tmp);
    m_backend.copy(h1, x);
    m_backend.add_inplace(h1, tmp);
    m_backend.rmsnorm_forward({h1, base.mlp_norm, eps, norm2, a.rstd2.head(n)});
    lin(norm2, w.gate, LoraTarget::Gate, gate);
    lin(norm2, w.up, LoraTarget::Up, up);
    m_backend.swiglu_forward({gate, up, act});
    if (!out) return;
    const Tensor y = out->head(n);
    lin(act, w.down, LoraTarget::Down, tmp);
    m_backend.copy(y, h1);
    m_backend.add_inplace(y, tmp);
}

// On entry m_grads.residual holds d(out); on exit d(x). Layer 0 stops at its LoRA gradients:
// the embedding is frozen, so nothing needs d(x) there.
void LlamaModel::layer_backward(std::int64_t l, const Shapes& s, const LayerActs& a,
                                const Tensor& x_full, std::uint64_t seed, bool use_dropout) {
    const LlamaConfig& c = m_base.config();
    const DeviceLayer& base = m_base.layers()[static_cast<std::size_t>(l)];
    const LayerWeights& w = materialize(l);
    const std::int64_t n = s.n;
    const bool need_dx = l > 0;
    auto lin_back = [&](const Tensor& in, const Tensor& dout, const LinearWeight& wt, LoraTarget t,
                        const Tensor& dx, GradMode mode) {
        LoraView v;
        const bool adapted = m_lora && m_lora->view(l, t);
        if (adapted) v = lora_view(l, t, seed, use_dropout, true);
        m_backend.linear_backward({in, dout, &wt, adapted ? &v : nullptr, dx, mode});
    };
    const Tensor x = x_full.head(n), dres = m_grads.residual.head(n), dnorm = m_grads.norm.head(n);
    const Tensor norm1 = a.norm1.head(n), q = a.q.head(n), k = a.k.head(n), v = a.v.head(n);
    const Tensor att = a.att.head(n), h1 = a.h1.head(n), norm2 = a.norm2.head(n);
    const Tensor gate = a.gate.head(n), up = a.up.head(n), act = a.act.head(n);
    const Tensor datt = m_grads.att.head(n), dq = m_grads.dq.head(n), dk = m_grads.dk.head(n),
                 dv = m_grads.dv.head(n);
    const Tensor dact = m_grads.act.head(n), dgate = m_grads.gate.head(n), dup = m_grads.up.head(n);
    const Tensor lse{a.lse.data, DType::F32, {c.num_heads, n}};
    const Tensor positions = m_positions.head(n);
    const Tensor cu_seqlens = m_cu_seqlens.head(s.sequences + 1);

    // MLP: out = h1 + down(act)
    lin_back(act, dres, w.down, LoraTarget::Down, dact, GradMode::Overwrite);
    m_backend.swiglu_backward({gate, up, dact, dgate, dup});
    lin_back(norm2, dgate, w.gate, LoraTarget::Gate, dnorm, GradMode::Overwrite);
    lin_back(norm2, dup, w.up, LoraTarget::Up, dnorm, GradMode::Accumulate);
    m_backend.rmsnorm_backward({h1, base.mlp_norm, a.rstd2.head(n),
                                dnorm, dres, GradMode::Accumulate});
    // Attention: h1 = x + o(att)
    lin_back(att, dres, w.o, LoraTarget::O, datt, GradMode::Overwrite);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    m_backend.attention_backward({heads(q, n, c.num_heads, c.head_dim), heads(k, n, c.num_kv_heads, c.head_dim),
                                  heads(v, n, c.num_kv_heads, c.head_dim), cu_seqlens, s.max_seqlen, scale,
                                  heads(att, n, c.num_heads, c.head_dim), lse,
                                  heads(datt, n, c.num_heads, c.head_dim), heads(dq, n, c.num_heads, c.head_dim),
                                  heads(dk, n, c.num_kv_heads, c.head_dim), heads(dv, n, c.num_kv_heads, c.head_dim),
                                  true, m_attention_workspace});
    m_backend.rope_backward({dq.reshaped({n, c.num_heads, c.head_dim}), positions, m_rope_cos, m_rope_sin});
    m_backend.rope_backward({dk.reshaped({n, c.num_kv_heads, c.head_dim}), positions, m_rope_cos, m_rope_sin});
    const Tensor dn = need_dx ? dnorm : Tensor{};
    lin_back(norm1, dq, w.q, LoraTarget::Q, dn, GradMode::Overwrite);
    lin_back(norm1, dk, w.k, LoraTarget::K, dn, GradMode::Accumulate);
    lin_back(norm1, dv, w.v, LoraTarget::V, dn, GradMode::Accumulate);
    if (need_dx)
        m_backend.rmsnorm_backward({x, base.attn_norm, a.rstd1.head(n),
                                    dnorm, dres, GradMode::Accumulate});
}

}  // namespace qls
