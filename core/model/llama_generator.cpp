#include "core/model/llama_generator.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/model/rope_table.h"

namespace qls {

LlamaGenerator::LlamaGenerator(Backend& backend, const DeviceBaseModel& base,
                               const LoraParameters* lora, std::int64_t max_context,
                               std::int64_t prefill_chunk)
    : m_backend(backend), m_base(base), m_lora(lora), m_max_context(max_context) {
    QLS_CHECK(ConfigError, max_context >= 1, "generation context must be at least 1 token, got ",
              max_context);
    QLS_CHECK(ConfigError, prefill_chunk >= 0, "prefill chunk must be at least 0, got ",
              prefill_chunk);
    m_chunk = std::min(max_context, prefill_chunk > 0 ? prefill_chunk : std::int64_t{512});
    plan_buffers();
    const RopeTable rope = make_rope_table(base.config(), max_context);
    m_backend.copy_from_host(m_s.rope_cos, std::as_bytes(std::span(rope.cos)));
    m_backend.copy_from_host(m_s.rope_sin, std::as_bytes(std::span(rope.sin)));
}

void LlamaGenerator::plan_buffers() {
    const LlamaConfig& c = m_base.config();
    const std::int64_t n = m_chunk, qd = c.num_heads * c.head_dim;
    const Shape cache_shape{1, m_max_context, c.num_kv_heads, c.head_dim};
    const DType a = m_base.options().compute;  // the cache and activations (backend.h "Precision")
    BufferPlan cache;
    std::vector<std::size_t> cache_ids;
    for (std::int64_t l = 0; l < c.num_layers; ++l) {
        cache_ids.push_back(cache.add("k_cache", a, cache_shape));
        cache_ids.push_back(cache.add("v_cache", a, cache_shape));
    }
    BufferPlan work;
    const Shape nc{n, c.hidden_size}, ni{n, c.intermediate_size};
    const std::size_t ids[] = {
        work.add("x", a, nc),          work.add("norm", a, nc),
        work.add("rstd", DType::F32, {n}),      work.add("q", a, {n, qd}),
        work.add("att", a, {n, qd}),   work.add("tmp", a, nc),
        work.add("gate", a, ni),       work.add("up", a, ni),
        work.add("act", a, ni),        work.add("tokens", DType::I32, {n}),
        work.add("positions", DType::I32, {n}), work.add("logits", a, {1, c.vocab_size}),
        work.add("rope_cos", DType::F32, {m_max_context, c.head_dim / 2}),
        work.add("rope_sin", DType::F32, {m_max_context, c.head_dim / 2})};

    m_cache_buffer = cache.allocate(m_backend, Usage::Activations, "KV cache");
    m_work_buffer = work.allocate(m_backend, Usage::Workspace, "generation workspace");
    for (std::size_t i = 0; i < cache_ids.size(); i += 2)
        m_cache.push_back({cache.tensor(m_cache_buffer, cache_ids[i]),
                           cache.tensor(m_cache_buffer, cache_ids[i + 1])});
    auto t = [&](std::size_t i) { return work.tensor(m_work_buffer, ids[i]); };
    m_s = {t(0), t(1), t(2), t(3), t(4), t(5), t(6), t(7), t(8), t(9), t(10), t(11), t(12), t(13)};
}

std::vector<float> LlamaGenerator::prefill(std::span<const int> ids) {
    reset();
    return append(ids);
}

std::vector<float> LlamaGenerator::step(int token) {
    return append(std::span<const int>(&token, 1));
}

std::vector<float> LlamaGenerator::append(std::span<const int> ids) {
    QLS_CHECK(DataError, !ids.empty(), "generation needs at least one token to run");
    const auto count = static_cast<std::int64_t>(ids.size());
    QLS_CHECK(ConfigError, count <= m_max_context - m_position, m_position, " cached + ", count,
              " new tokens exceed the context of ", m_max_context, " tokens");
    const std::int64_t vocab = m_base.config().vocab_size;
    for (std::size_t i = 0; i < ids.size(); ++i)
        QLS_CHECK(DataError, ids[i] >= 0 && ids[i] < vocab, "token ", i, " of the input: id ", ids[i],
                  " is outside the model's vocabulary of ", vocab);
    std::int64_t last = 0;
    for (std::size_t done = 0; done < ids.size(); done += static_cast<std::size_t>(last)) {
        last = std::min<std::int64_t>(m_chunk, count - static_cast<std::int64_t>(done));
        run_chunk(ids.subspan(done, static_cast<std::size_t>(last)));
    }
    return last_logits(last);
}

// The chunk's tokens at positions m_position.. through every layer; their keys and values
// join the cache.
void LlamaGenerator::run_chunk(std::span<const int> ids) {
    const auto n = static_cast<std::int64_t>(ids.size());
    std::vector<std::int32_t> positions(ids.size());
    std::iota(positions.begin(), positions.end(), static_cast<std::int32_t>(m_position));
    const std::vector<std::int32_t> tokens(ids.begin(), ids.end());
    m_backend.copy_from_host(m_s.tokens.head(n), std::as_bytes(std::span(tokens)));
    m_backend.copy_from_host(m_s.positions.head(n), std::as_bytes(std::span(positions)));
    m_backend.embedding_forward({m_s.tokens.head(n), m_base.embed(), m_s.x.row_slice(0, n)});
    for (std::int64_t l = 0; l < m_base.config().num_layers; ++l) layer_forward(l, n);
    m_position += n;
}

void LlamaGenerator::linear(std::int64_t l, LoraTarget t, const Tensor& in, const LinearWeight& w,
                            const Tensor& out) const {
    const LoraView* adapted = m_lora ? m_lora->view(l, t) : nullptr;
    if (!adapted) {
        m_backend.linear_forward({in, &w, {}, out, {}, {}});
        return;
    }
    LoraPart part{*adapted, 0};  // inference: PEFT's eval mode, no dropout and no gradients
    part.view.dropout = 0.0f;
    part.view.da = part.view.db = Tensor{};
    m_backend.linear_forward({in, &w, std::span(&part, 1), out, {}, {}});
}

// llama_layer.cpp's forward for n new tokens; k and v are written straight into the cache.
void LlamaGenerator::layer_forward(std::int64_t l, std::int64_t n) {
    const LlamaConfig& c = m_base.config();
    const DeviceLayer& w = m_base.layers()[static_cast<std::size_t>(l)];
    const auto eps = static_cast<float>(c.rms_norm_eps);
    const std::int64_t kvd = c.num_kv_heads * c.head_dim;
    const Tensor x = m_s.x.row_slice(0, n), norm = m_s.norm.row_slice(0, n);
    const Tensor rstd = m_s.rstd.head(n);
    const Tensor q = m_s.q.row_slice(0, n), att = m_s.att.row_slice(0, n), tmp = m_s.tmp.row_slice(0, n);
    const Tensor gate = m_s.gate.row_slice(0, n), up = m_s.up.row_slice(0, n), act = m_s.act.row_slice(0, n);
    const Tensor positions = m_s.positions.head(n);
    const Cache& cache = m_cache[static_cast<std::size_t>(l)];
    const Tensor k = cache.k.reshaped({m_max_context, kvd}).row_slice(m_position, n);
    const Tensor v = cache.v.reshaped({m_max_context, kvd}).row_slice(m_position, n);

    m_backend.rmsnorm_forward({x, w.attn_norm, eps, norm, rstd});
    linear(l, LoraTarget::Q, norm, w.q, q);
    linear(l, LoraTarget::K, norm, w.k, k);
    linear(l, LoraTarget::V, norm, w.v, v);
    m_backend.rope_forward({q.reshaped({n, c.num_heads, c.head_dim}), positions, m_s.rope_cos, m_s.rope_sin});
    m_backend.rope_forward({k.reshaped({n, c.num_kv_heads, c.head_dim}), positions, m_s.rope_cos, m_s.rope_sin});
    m_backend.attention_decode({q.reshaped({1, n, c.num_heads, c.head_dim}), cache.k, cache.v, m_position,
                                1.0f / std::sqrt(static_cast<float>(c.head_dim)),
                                att.reshaped({1, n, c.num_heads, c.head_dim})});
    linear(l, LoraTarget::O, att, w.o, tmp);
    m_backend.add_inplace(x, tmp);
    m_backend.rmsnorm_forward({x, w.mlp_norm, eps, norm, rstd});
    linear(l, LoraTarget::Gate, norm, w.gate, gate);
    linear(l, LoraTarget::Up, norm, w.up, up);
    m_backend.swiglu_forward({gate, up, act});
    linear(l, LoraTarget::Down, act, w.down, tmp);
    m_backend.add_inplace(x, tmp);
}

// Only the last row goes through the final norm and lm_head: generation needs nothing else.
std::vector<float> LlamaGenerator::last_logits(std::int64_t n) {
    const LlamaConfig& c = m_base.config();
    const Tensor x = m_s.x.row_slice(n - 1, 1), norm = m_s.norm.row_slice(0, 1);
    m_backend.rmsnorm_forward({x, m_base.final_norm(), static_cast<float>(c.rms_norm_eps), norm,
                               m_s.rstd.reshaped({m_chunk, 1}).row_slice(0, 1)});
    m_backend.linear_forward({norm, &m_base.lm_head(), {}, m_s.logits, {}, {}});
    std::vector<std::byte> stored(m_s.logits.bytes());
    m_backend.copy_to_host(m_s.logits, stored);
    return to_f32(TensorView{m_s.logits.dtype, m_s.logits.shape, stored});
}

}  // namespace qls
