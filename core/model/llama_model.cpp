#include "core/model/llama_model.h"

#include <algorithm>
#include <cmath>

#include "core/backend/dropout_mask.h"
#include "core/model/rope_table.h"

namespace qls {

namespace {

std::span<const std::byte> as_bytes_of(const std::vector<std::int32_t>& v) {
    return std::as_bytes(std::span<const std::int32_t>(v));
}

}  // namespace

std::int64_t LlamaModel::default_logits_chunk(const LlamaConfig& c, std::int64_t rows) {
    // At most 32 MiB of fp32 logits at once: the full (N, V) matrix of a 128k vocabulary would
    // dwarf the rest of a QLoRA step.
    const std::int64_t cap = std::max<std::int64_t>(1, (32 << 20) / (4 * c.vocab_size));
    return std::min(rows, cap);
}

LlamaModel::LlamaModel(Backend& backend, const DeviceBaseModel& base, LoraParameters* lora,
                       const ModelRunOptions& options)
    : m_backend(backend), m_base(base), m_lora(lora), m_options(options) {
    QLS_CHECK(ConfigError, options.max_batch >= 1 && options.max_seq >= 1,
              "micro-batch and sequence length must be at least 1, got ", options.max_batch,
              " and ", options.max_seq);
    const std::int64_t n = options.max_batch * options.max_seq;
    m_chunk = options.logits_chunk > 0 ? std::min(options.logits_chunk, n)
                                       : default_logits_chunk(base.config(), n);
    plan_buffers();
    const RopeTable rope = make_rope_table(base.config(), options.max_seq);
    m_backend.copy_from_host(m_rope_cos, std::as_bytes(std::span(rope.cos)));
    m_backend.copy_from_host(m_rope_sin, std::as_bytes(std::span(rope.sin)));
}

void LlamaModel::add_layer_acts(BufferPlan& plan, std::vector<std::size_t>& ids) {
    const LlamaConfig& c = m_base.config();
    const std::int64_t n = m_options.max_batch * m_options.max_seq;
    const std::int64_t qd = c.num_heads * c.head_dim, kvd = c.num_kv_heads * c.head_dim;
    const Shape nc{n, c.hidden_size}, ni{n, c.intermediate_size}, rows{n};
    for (const auto& [name, shape] : std::initializer_list<std::pair<const char*, Shape>>{
             {"norm1", nc}, {"rstd1", rows}, {"q", {n, qd}}, {"k", {n, kvd}}, {"v", {n, kvd}},
             {"att", {n, qd}}, {"lse", {m_options.max_batch, c.num_heads, m_options.max_seq}},
             {"h1", nc}, {"norm2", nc}, {"rstd2", rows}, {"gate", ni}, {"up", ni}, {"act", ni}})
        ids.push_back(plan.add(name, DType::F32, shape));
}

LlamaModel::LayerActs LlamaModel::layer_acts(const BufferPlan& plan, const Buffer& buf,
                                             const std::vector<std::size_t>& ids,
                                             std::size_t first) const {
    auto t = [&](std::size_t i) { return plan.tensor(buf, ids[first + i]); };
    return {t(0), t(1), t(2), t(3), t(4), t(5), t(6), t(7), t(8), t(9), t(10), t(11), t(12)};
}

void LlamaModel::plan_buffers() {
    const LlamaConfig& c = m_base.config();
    const std::int64_t n = m_options.max_batch * m_options.max_seq;
    const std::int64_t qd = c.num_heads * c.head_dim, kvd = c.num_kv_heads * c.head_dim;
    const Shape nc{n, c.hidden_size}, ni{n, c.intermediate_size};
    const std::size_t per_layer = 13;
    const std::size_t sets = m_options.checkpointing ? 1 : static_cast<std::size_t>(c.num_layers);

    BufferPlan act;  // kept from forward to backward
    std::vector<std::size_t> inputs;
    for (std::int64_t l = 0; l <= c.num_layers; ++l) inputs.push_back(act.add("input", DType::F32, nc));
    const std::size_t normf = act.add("normf", DType::F32, nc);
    const std::size_t rstdf = act.add("rstdf", DType::F32, {n});
    std::vector<std::size_t> act_ids;
    if (!m_options.checkpointing)
        for (std::size_t s = 0; s < sets; ++s) add_layer_acts(act, act_ids);

    BufferPlan work;  // reused within a step
    std::vector<std::size_t> work_ids;
    if (m_options.checkpointing) add_layer_acts(work, work_ids);
    const std::size_t tokens = work.add("tokens", DType::I32, {n});
    const std::size_t targets = work.add("targets", DType::I32, {n});
    const std::size_t positions = work.add("positions", DType::I32, {n});
    const std::size_t segments = work.add("segments", DType::I32, {n});
    const std::size_t tmp = work.add("tmp", DType::F32, nc);
    const std::size_t g[] = {work.add("d_residual", DType::F32, nc), work.add("d_norm", DType::F32, nc),
                             work.add("d_att", DType::F32, {n, qd}), work.add("dq", DType::F32, {n, qd}),
                             work.add("dk", DType::F32, {n, kvd}), work.add("dv", DType::F32, {n, kvd}),
                             work.add("d_act", DType::F32, ni), work.add("d_gate", DType::F32, ni),
                             work.add("d_up", DType::F32, ni)};
    const std::size_t logits = work.add("logits", DType::F32, {m_chunk, c.vocab_size});
    const std::size_t losses = work.add("losses", DType::F32, {n});
    const std::size_t cos = work.add("rope_cos", DType::F32, {m_options.max_seq, c.head_dim / 2});
    const std::size_t sin = work.add("rope_sin", DType::F32, {m_options.max_seq, c.head_dim / 2});

    m_act_buffer = act.allocate(m_backend, Usage::Activations, "activations");
    m_work_buffer = work.allocate(m_backend, Usage::Workspace, "workspace");
    for (std::size_t id : inputs) m_inputs.push_back(act.tensor(m_act_buffer, id));
    m_normf = act.tensor(m_act_buffer, normf);
    m_rstdf = act.tensor(m_act_buffer, rstdf);
    for (std::size_t s = 0; s < sets; ++s)
        m_acts.push_back(m_options.checkpointing
                             ? layer_acts(work, m_work_buffer, work_ids, 0)
                             : layer_acts(act, m_act_buffer, act_ids, s * per_layer));
    m_tokens = work.tensor(m_work_buffer, tokens);
    m_targets = work.tensor(m_work_buffer, targets);
    m_positions = work.tensor(m_work_buffer, positions);
    m_segments = work.tensor(m_work_buffer, segments);
    m_tmp = work.tensor(m_work_buffer, tmp);
    auto w = [&](std::size_t i) { return work.tensor(m_work_buffer, g[i]); };
    m_grads = {w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(7), w(8)};
    m_logits = work.tensor(m_work_buffer, logits);
    m_losses = work.tensor(m_work_buffer, losses);
    m_rope_cos = work.tensor(m_work_buffer, cos);
    m_rope_sin = work.tensor(m_work_buffer, sin);
}

Tensor LlamaModel::rows(const Tensor& t, std::int64_t n) const {
    // The first n rows of a buffer planned for the largest batch: (n, cols).
    return t.row_slice(0, n);
}

LlamaModel::Shapes LlamaModel::upload_batch(const Batch& batch) {
    const std::int64_t n = batch.batch * batch.seq_len;
    QLS_CHECK(ConfigError, batch.batch >= 1 && batch.seq_len >= 1 &&
                               batch.batch <= m_options.max_batch &&
                               batch.seq_len <= m_options.max_seq,
              "batch of ", batch.batch, " x ", batch.seq_len, " tokens exceeds the planned ",
              m_options.max_batch, " x ", m_options.max_seq);
    QLS_ASSERT(static_cast<std::int64_t>(batch.tokens.size()) == n &&
                   batch.targets.size() == batch.tokens.size() &&
                   batch.positions.size() == batch.tokens.size() &&
                   batch.segments.size() == batch.tokens.size(),
               "batch arrays do not match ", batch.batch, " x ", batch.seq_len);
    m_backend.copy_from_host(rows(m_tokens.reshaped({m_tokens.numel(), 1}), n).reshaped({n}),
                             as_bytes_of(batch.tokens));
    m_backend.copy_from_host(rows(m_targets.reshaped({m_targets.numel(), 1}), n).reshaped({n}),
                             as_bytes_of(batch.targets));
    m_backend.copy_from_host(rows(m_positions.reshaped({m_positions.numel(), 1}), n).reshaped({n}),
                             as_bytes_of(batch.positions));
    m_backend.copy_from_host(rows(m_segments.reshaped({m_segments.numel(), 1}), n).reshaped({n}),
                             as_bytes_of(batch.segments));
    return {batch.batch, batch.seq_len, n};
}

const LlamaModel::LayerActs& LlamaModel::acts_for(std::int64_t layer) const {
    return m_options.checkpointing ? m_acts.front() : m_acts.at(static_cast<std::size_t>(layer));
}

LoraView LlamaModel::lora_view(std::int64_t layer, LoraTarget t, std::uint64_t seed,
                               bool use_dropout, bool with_grads) const {
    LoraView v = *m_lora->view(layer, t);
    if (!use_dropout) v.dropout = 0.0f;
    // A distinct mask per (micro-batch, layer, module), the same in forward and recompute.
    v.dropout_seed = mix64(seed ^ mix64(static_cast<std::uint64_t>(layer * 8) +
                                        static_cast<std::uint64_t>(t)));
    if (!with_grads) v.da = v.db = Tensor{};
    return v;
}

void LlamaModel::embed_and_run_layers(const Shapes& s, std::uint64_t dropout_seed, bool use_dropout) {
    const Tensor tokens = m_tokens.reshaped({m_tokens.numel(), 1}).row_slice(0, s.n).reshaped({s.n});
    m_backend.embedding_forward({tokens, m_base.embed(), rows(m_inputs[0], s.n)});
    const std::int64_t layers = m_base.config().num_layers;
    for (std::int64_t l = 0; l < layers; ++l)
        layer_forward(l, s, acts_for(l), m_inputs[l], &m_inputs[l + 1], dropout_seed, use_dropout);
    m_backend.rmsnorm_forward({rows(m_inputs[layers], s.n), m_base.final_norm(),
                               static_cast<float>(m_base.config().rms_norm_eps), rows(m_normf, s.n),
                               m_rstdf.reshaped({m_rstdf.numel(), 1}).row_slice(0, s.n)});
}

LossSum LlamaModel::head_loss(const Shapes& s, float grad_scale, bool backward) {
    LossSum sum;
    const Tensor targets = m_targets.reshaped({m_targets.numel(), 1});
    const Tensor losses = m_losses.reshaped({m_losses.numel(), 1});
    std::vector<float> host_losses;
    for (std::int64_t r = 0; r < s.n; r += m_chunk) {
        const std::int64_t count = std::min(m_chunk, s.n - r);
        const Tensor h = m_normf.row_slice(r, count);
        const Tensor logits = m_logits.row_slice(0, count);
        m_backend.linear_forward({h, &m_base.lm_head(), nullptr, logits});
        const Tensor chunk_losses = losses.row_slice(r, count);
        m_backend.cross_entropy({logits, targets.row_slice(r, count), chunk_losses, grad_scale, backward});
        if (backward)
            m_backend.linear_backward({h, logits, &m_base.lm_head(), nullptr,
                                       m_grads.norm.row_slice(r, count), GradMode::Overwrite});
    }
    host_losses.resize(static_cast<std::size_t>(s.n));
    m_backend.copy_to_host(losses.row_slice(0, s.n), std::as_writable_bytes(std::span(host_losses)));
    std::vector<std::int32_t> host_targets(static_cast<std::size_t>(s.n));
    m_backend.copy_to_host(targets.row_slice(0, s.n), std::as_writable_bytes(std::span(host_targets)));
    for (std::size_t i = 0; i < host_losses.size(); ++i)
        if (host_targets[i] != kIgnoreIndex) {
            sum.loss += host_losses[i];
            ++sum.tokens;
        }
    return sum;
}

LossSum LlamaModel::forward_backward(const Batch& batch, float grad_scale, std::uint64_t dropout_seed) {
    QLS_ASSERT(m_lora != nullptr, "forward_backward needs LoRA parameters to train");
    const Shapes s = upload_batch(batch);
    embed_and_run_layers(s, dropout_seed, true);
    const LossSum sum = head_loss(s, grad_scale, true);
    const std::int64_t layers = m_base.config().num_layers;
    // Through the final norm into the residual stream.
    m_backend.rmsnorm_backward({rows(m_inputs[layers], s.n), m_base.final_norm(),
                                m_rstdf.reshaped({m_rstdf.numel(), 1}).row_slice(0, s.n),
                                rows(m_grads.norm, s.n), rows(m_grads.residual, s.n),
                                GradMode::Overwrite});
    for (std::int64_t l = layers - 1; l >= 0; --l) {
        if (m_options.checkpointing)
            layer_forward(l, s, acts_for(l), m_inputs[l], nullptr, dropout_seed, true);
        layer_backward(l, s, acts_for(l), m_inputs[l], dropout_seed, true);
    }
    return sum;
}

LossSum LlamaModel::evaluate(const Batch& batch) {
    const Shapes s = upload_batch(batch);
    embed_and_run_layers(s, 0, false);
    return head_loss(s, 1.0f, false);
}

std::vector<float> LlamaModel::logits(const Batch& batch) {
    const Shapes s = upload_batch(batch);
    embed_and_run_layers(s, 0, false);
    const std::int64_t vocab = m_base.config().vocab_size;
    std::vector<float> out(static_cast<std::size_t>(s.n * vocab));
    for (std::int64_t r = 0; r < s.n; r += m_chunk) {
        const std::int64_t count = std::min(m_chunk, s.n - r);
        const Tensor logits = m_logits.row_slice(0, count);
        m_backend.linear_forward({m_normf.row_slice(r, count), &m_base.lm_head(), nullptr, logits});
        m_backend.copy_to_host(logits, std::as_writable_bytes(std::span(out).subspan(
                                           static_cast<std::size_t>(r * vocab),
                                           static_cast<std::size_t>(count * vocab))));
    }
    return out;
}

}  // namespace qls
