// One decoder layer, forward and backward (formats.md §6.3, HF LlamaDecoderLayer):
//   q|k|v = qkv(n1)                                       n1 = rmsnorm1(x)
//   h1    = x + o(attn(rope(q), rope(k), v))
//   g|u   = gate_up(n2)                                   n2 = rmsnorm2(h1)
//   out   = h1 + down(silu(g) ⊙ u)
// q|k|v and gate|up are one stacked linear each (the base weights stacked in the layer's
// workspace, every target's LoRA adding into its own output columns); q, k, v, g and u are
// column views of the stacked activation. The residual adds happen in the o and down GEMMs.
// The MLP runs in chunks of rows (llama_model.h "MLP chunks"); one chunk of all N rows when
// nothing asks for fewer.
#include "core/model/llama_model.h"

#include <cmath>

namespace qls {

namespace {
// (N, H, D) heads of a column block of a stacked activation.
Tensor heads(const Tensor& columns, std::int64_t h, std::int64_t d) {
    return columns.reshaped({columns.dim(0), h, d});
}
}  // namespace

void LlamaModel::layer_forward(std::int64_t l, const Shapes& s, const LayerActs& a,
                               const Tensor& x_full, const Tensor* out, std::uint64_t seed,
                               bool use_dropout) {
    const LlamaConfig& c = m_base.config();
    const DeviceLayer& base = m_base.layers()[static_cast<std::size_t>(l)];
    const LayerWeights& w = materialize(l);
    const std::int64_t n = s.n, qd = c.num_heads * c.head_dim, kvd = c.num_kv_heads * c.head_dim;
    const Tensor x = x_full.head(n);
    const auto eps = static_cast<float>(c.rms_norm_eps);
    auto lin = [&](const Tensor& in, const LinearWeight& wt, std::initializer_list<std::pair<LoraTarget, std::int64_t>> ts,
                   const Tensor& o, const Tensor& residual, const Tensor& xa) {
        const std::vector<LoraPart> parts = lora_parts(l, ts, seed, use_dropout, false);
        m_backend.linear_forward({in, &wt, parts, o, residual, parts.empty() ? Tensor{} : xa.head(n)});
    };
    const Tensor norm1 = a.norm1.head(n), qkv = a.qkv.head(n), att = a.att.head(n), h1 = a.h1.head(n);
    const Tensor norm2 = a.norm2.head(n);
    const Tensor q = qkv.columns(0, qd), k = qkv.columns(qd, kvd), v = qkv.columns(qd + kvd, kvd);
    const Tensor lse{a.lse.data, DType::F32, {c.num_heads, n}};
    const Tensor positions = m_positions.head(n);

    m_backend.rmsnorm_forward({x, base.attn_norm, eps, norm1, a.rstd1.head(n)});
    lin(norm1, w.qkv, {{LoraTarget::Q, 0}, {LoraTarget::K, qd}, {LoraTarget::V, qd + kvd}}, qkv, {}, a.xa_qkv);
    m_backend.rope_forward({heads(q, c.num_heads, c.head_dim), positions, m_rope_cos, m_rope_sin});
    m_backend.rope_forward({heads(k, c.num_kv_heads, c.head_dim), positions, m_rope_cos, m_rope_sin});
    m_backend.attention_forward({heads(q, c.num_heads, c.head_dim), heads(k, c.num_kv_heads, c.head_dim),
                                 heads(v, c.num_kv_heads, c.head_dim), m_cu_seqlens.head(s.sequences + 1),
                                 s.max_seqlen, 1.0f / std::sqrt(static_cast<float>(c.head_dim)),
                                 heads(att, c.num_heads, c.head_dim), lse, m_attention_workspace});
    lin(att, w.o, {{LoraTarget::O, 0}}, h1, x, a.xa_o);
    m_backend.rmsnorm_forward({h1, base.mlp_norm, eps, norm2, a.rstd2.head(n)});
    if (!out) return;  // the recompute: backward recomputes the MLP chunk by chunk
    for (std::int64_t r0 = 0; r0 < n; r0 += m_mlp_rows) {
        const std::int64_t rows = std::min(m_mlp_rows, n - r0);
        mlp_up(l, a, w, r0, rows, seed, use_dropout);
        const std::vector<LoraPart> parts = lora_parts(l, {{LoraTarget::Down, 0}}, seed, use_dropout, false);
        m_backend.linear_forward({a.act.head(rows), &w.down, parts, out->row_slice(r0, rows), h1.row_slice(r0, rows),
                                  parts.empty() ? Tensor{} : a.xa_down.row_slice(r0, rows), r0});
    }
}

// gate|up and the SwiGLU activation of rows [r0, r0 + rows) into the chunk's a.gate_up, a.act.
void LlamaModel::mlp_up(std::int64_t l, const LayerActs& a, const LayerWeights& w, std::int64_t r0,
                        std::int64_t rows, std::uint64_t seed, bool use_dropout) {
    const std::int64_t inter = m_base.config().intermediate_size;
    const Tensor gate_up = a.gate_up.head(rows);
    const std::vector<LoraPart> parts =
        lora_parts(l, {{LoraTarget::Gate, 0}, {LoraTarget::Up, inter}}, seed, use_dropout, false);
    m_backend.linear_forward({a.norm2.row_slice(r0, rows), &w.gate_up, parts, gate_up, {},
                              parts.empty() ? Tensor{} : a.xa_gate_up.row_slice(r0, rows), r0});
    m_backend.swiglu_forward({gate_up.columns(0, inter), gate_up.columns(inter, inter), a.act.head(rows)});
}

// On entry m_grads.residual holds d(out); on exit d(x). Layer 0 stops at its LoRA gradients:
// the embedding is frozen, so nothing needs d(x) there.
void LlamaModel::layer_backward(std::int64_t l, const Shapes& s, const LayerActs& a,
                                const Tensor& x_full, std::uint64_t seed, bool use_dropout) {
    const LlamaConfig& c = m_base.config();
    const DeviceLayer& base = m_base.layers()[static_cast<std::size_t>(l)];
    const LayerWeights& w = materialize(l);
    const std::int64_t n = s.n, qd = c.num_heads * c.head_dim, kvd = c.num_kv_heads * c.head_dim;
    const std::int64_t inter = c.intermediate_size;
    const bool need_dx = l > 0;
    // Forward left each linear's x·Aᵀ in the layer's acts, except the down projection's when
    // checkpointing: backward computes that one in place. Rows [r0, r0 + rows) of x and dout.
    auto lin_back = [&](const Tensor& in, const Tensor& dout, const LinearWeight& wt,
                        std::initializer_list<std::pair<LoraTarget, std::int64_t>> ts, const Tensor& xa, bool ready,
                        const Tensor& dx, std::int64_t r0, std::int64_t rows) {
        const std::vector<LoraPart> parts = lora_parts(l, ts, seed, use_dropout, true);
        m_backend.linear_backward({in, dout, &wt, parts, parts.empty() ? Tensor{} : xa.row_slice(r0, rows),
                                   ready && !parts.empty(), dx, GradMode::Overwrite, r0});
    };
    const Tensor x = x_full.head(n), dres = m_grads.residual.head(n), dnorm = m_grads.norm.head(n);
    const Tensor norm1 = a.norm1.head(n), qkv = a.qkv.head(n), att = a.att.head(n), h1 = a.h1.head(n);
    const Tensor norm2 = a.norm2.head(n);
    const Tensor q = qkv.columns(0, qd), k = qkv.columns(qd, kvd), v = qkv.columns(qd + kvd, kvd);
    const Tensor datt = m_grads.att.head(n), dqkv = m_grads.qkv.head(n);
    const Tensor dq = dqkv.columns(0, qd), dk = dqkv.columns(qd, kvd), dv = dqkv.columns(qd + kvd, kvd);
    const Tensor lse{a.lse.data, DType::F32, {c.num_heads, n}};
    const Tensor positions = m_positions.head(n);

    // MLP: out = h1 + down(act); the residual's gradient passes through unchanged. Without
    // checkpointing the one chunk is all N rows, kept from forward.
    for (std::int64_t r0 = 0; r0 < n; r0 += m_mlp_rows) {
        const std::int64_t rows = std::min(m_mlp_rows, n - r0);
        if (m_options.checkpointing) mlp_up(l, a, w, r0, rows, seed, use_dropout);
        const Tensor gate_up = a.gate_up.head(rows), dact = m_grads.act.head(rows);
        const Tensor dgate_up = m_grads.gate_up.head(rows);
        lin_back(a.act.head(rows), dres.row_slice(r0, rows), w.down, {{LoraTarget::Down, 0}}, a.xa_down,
                 !m_options.checkpointing, dact, r0, rows);
        m_backend.swiglu_backward({gate_up.columns(0, inter), gate_up.columns(inter, inter), dact,
                                   dgate_up.columns(0, inter), dgate_up.columns(inter, inter)});
        lin_back(norm2.row_slice(r0, rows), dgate_up, w.gate_up, {{LoraTarget::Gate, 0}, {LoraTarget::Up, inter}},
                 a.xa_gate_up, true, dnorm.row_slice(r0, rows), r0, rows);
    }
    m_backend.rmsnorm_backward({h1, base.mlp_norm, a.rstd2.head(n), dnorm, dres, GradMode::Accumulate});
    // Attention: h1 = x + o(att)
    lin_back(att, dres, w.o, {{LoraTarget::O, 0}}, a.xa_o, true, datt, 0, n);
    m_backend.attention_backward({heads(q, c.num_heads, c.head_dim), heads(k, c.num_kv_heads, c.head_dim),
                                  heads(v, c.num_kv_heads, c.head_dim), m_cu_seqlens.head(s.sequences + 1),
                                  s.max_seqlen, 1.0f / std::sqrt(static_cast<float>(c.head_dim)),
                                  heads(att, c.num_heads, c.head_dim), lse, heads(datt, c.num_heads, c.head_dim),
                                  heads(dq, c.num_heads, c.head_dim), heads(dk, c.num_kv_heads, c.head_dim),
                                  heads(dv, c.num_kv_heads, c.head_dim), true, m_attention_workspace});
    m_backend.rope_backward({heads(dq, c.num_heads, c.head_dim), positions, m_rope_cos, m_rope_sin});
    m_backend.rope_backward({heads(dk, c.num_kv_heads, c.head_dim), positions, m_rope_cos, m_rope_sin});
    lin_back(norm1, dqkv, w.qkv, {{LoraTarget::Q, 0}, {LoraTarget::K, qd}, {LoraTarget::V, qd + kvd}}, a.xa_qkv,
             true, need_dx ? dnorm : Tensor{}, 0, n);
    if (need_dx)
        m_backend.rmsnorm_backward({x, base.attn_norm, a.rstd1.head(n), dnorm, dres, GradMode::Accumulate});
}

}  // namespace qls
