#include "core/model/llama_model.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "core/backend/dropout_mask.h"
#include "core/model/rope_table.h"

namespace qls {

namespace {

std::span<const std::byte> as_bytes_of(const std::vector<std::int32_t>& v) {
    return std::as_bytes(std::span<const std::int32_t>(v));
}

// Rows of the logits materialized at once for `o`: its logits_chunk capped at N, or automatic.
std::int64_t logits_rows(const LlamaConfig& c, const ModelRunOptions& o) {
    const std::int64_t n = o.max_batch * o.max_seq;
    return o.logits_chunk > 0 ? std::min(o.logits_chunk, n) : LlamaModel::default_logits_chunk(c, n);
}

// Device slots for the L + 1 layer inputs (the last one the final layer's output).
std::int64_t input_slots(const LlamaConfig& c, const ModelRunOptions& o) {
    return o.offload_checkpoints ? std::min(LlamaModel::kOffloadSlots, c.num_layers + 1) : c.num_layers + 1;
}

}  // namespace

std::int64_t LlamaModel::default_logits_chunk(const LlamaConfig& c, std::int64_t rows) {
    // At most 8M logits (32 MiB in fp32) at once: the full (N, V) matrix of a 128k vocabulary
    // would dwarf the rest of a QLoRA step.
    const std::int64_t cap = std::max<std::int64_t>(1, (8 << 20) / c.vocab_size);
    return std::min(rows, cap);
}

std::int64_t LlamaModel::mlp_rows(const ModelRunOptions& o) {
    const std::int64_t n = o.max_batch * o.max_seq;
    return o.mlp_chunk > 0 ? std::min(o.mlp_chunk, n) : n;
}

LlamaModel::LlamaModel(Backend& backend, const DeviceBaseModel& base, LoraParameters* lora,
                       const ModelRunOptions& options)
    : m_backend(backend), m_base(base), m_lora(lora), m_options(options) {
    QLS_CHECK(ConfigError, options.max_batch >= 1 && options.max_seq >= 1,
              "micro-batch and sequence length must be at least 1, got ", options.max_batch,
              " and ", options.max_seq);
    QLS_CHECK(ConfigError, options.checkpointing || !options.offload_checkpoints,
              "offloading checkpoints needs gradient checkpointing: without it every activation stays on the device");
    QLS_CHECK(ConfigError, options.mlp_chunk >= 0 && (options.checkpointing || options.mlp_chunk == 0),
              "the MLP in chunks of rows needs gradient checkpointing (without it every layer keeps its whole "
              "intermediate for backward); got ", options.mlp_chunk, " rows");
    QLS_ASSERT(options.compute == base.options().compute, "the model computes in ",
               dtype_name(options.compute), " but its base weights were prepared for ",
               dtype_name(base.options().compute));
    m_chunk = logits_rows(base.config(), options);
    m_mlp_rows = mlp_rows(options);
    plan_buffers();
    // The backend's own scratch for this shape, taken now like the model's buffers.
    m_backend.reserve_op_scratch(step_shapes(base.config(), options, lora ? &lora->config() : nullptr,
                                             base.layers_in_compute_dtype(), base.lm_head().dense.dtype));  // the head is dense
    const RopeTable rope = make_rope_table(base.config(), options.max_seq);
    m_backend.copy_from_host(m_rope_cos, std::as_bytes(std::span(rope.cos)));
    m_backend.copy_from_host(m_rope_sin, std::as_bytes(std::span(rope.sin)));
    reset_loss();
}

LlamaModel::LayerActs LlamaModel::layer_acts(const BufferPlan& plan, const Buffer& buf,
                                             const std::vector<std::size_t>& ids,
                                             std::size_t first) const {
    auto t = [&](std::size_t i) { return plan.tensor(buf, ids[first + i]); };
    // A group without adapters keeps no x·Aᵀ.
    auto xa = [&](std::size_t i) { return t(i).cols() ? t(i) : Tensor{}; };
    return {t(0), t(1), t(2), t(3), t(4), t(5), t(6), t(7), t(8), t(9), xa(10), xa(11), xa(12), xa(13)};
}

namespace {

void add_layer_acts(BufferPlan& plan, std::vector<std::size_t>& ids, const LlamaConfig& c,
                    const ModelRunOptions& o, const LoraConfig* lora) {
    const std::int64_t n = o.max_batch * o.max_seq, mlp = LlamaModel::mlp_rows(o);
    const std::int64_t qd = c.num_heads * c.head_dim, kvd = c.num_kv_heads * c.head_dim;
    const Shape nc{n, c.hidden_size}, rows{n};
    auto r = [&](LinearGroup g) { return lora ? lora->group_rank(g) : std::int64_t{0}; };
    // Activations in the compute dtype; norm statistics, log-sum-exp and LoRA's x·Aᵀ in fp32.
    const DType a = o.compute, f = DType::F32;
    for (const auto& [name, dtype, shape] : std::initializer_list<std::tuple<const char*, DType, Shape>>{
             {"norm1", a, nc}, {"rstd1", f, rows}, {"qkv", a, {n, qd + 2 * kvd}}, {"att", a, {n, qd}},
             {"lse", f, {c.num_heads, n}}, {"h1", a, nc}, {"norm2", a, nc}, {"rstd2", f, rows},
             {"gate_up", a, {mlp, 2 * c.intermediate_size}}, {"act", a, {mlp, c.intermediate_size}},
             {"xa_qkv", f, {n, r(LinearGroup::Qkv)}}, {"xa_o", f, {n, r(LinearGroup::O)}},
             {"xa_gate_up", f, {n, r(LinearGroup::GateUp)}}, {"xa_down", f, {n, r(LinearGroup::Down)}}})
        ids.push_back(plan.add(name, dtype, shape));
}

constexpr std::size_t kActsPerLayer = 14;

}  // namespace

struct LlamaModel::Plans {
    BufferPlan act;   // kept from forward to backward
    BufferPlan work;  // reused within a step
    std::vector<std::size_t> inputs, act_ids, work_ids;
    std::size_t offload_host = 0;  // bytes
    std::size_t normf = 0, rstdf = 0, tokens = 0, targets = 0, positions = 0, cu_seqlens = 0, tmp = 0;
    std::size_t attention_workspace = 0, head_rows = 0, head_in = 0;
    std::size_t qkv_weight = 0, o_weight = 0, gate_up_weight = 0, down_weight = 0, qkv_bias = 0;
    std::size_t grads[6] = {};
    std::size_t logits = 0, losses = 0, loss_sum = 0, cos = 0, sin = 0;
};

LlamaModel::Plans LlamaModel::make_plans(const LlamaConfig& c, const ModelRunOptions& o, std::int64_t chunk,
                                         const MemoryPlanner& planner, const LoraConfig* lora, bool weights_in_place) {
    Plans p;
    const std::int64_t n = o.max_batch * o.max_seq;
    const std::int64_t qd = c.num_heads * c.head_dim, kvd = c.num_kv_heads * c.head_dim;
    const Shape nc{n, c.hidden_size}, ri{mlp_rows(o), c.intermediate_size};
    const DType a = o.compute;  // activations, their gradients and the layer's weights
    const std::int64_t slots = input_slots(c, o);
    for (std::int64_t s = 0; s < slots; ++s) p.inputs.push_back(p.act.add("input", a, nc));
    p.offload_host = static_cast<std::size_t>((c.num_layers + 1 - slots) * n * c.hidden_size) * dtype_size(a);
    p.normf = p.act.add("normf", a, nc);
    p.rstdf = p.act.add("rstdf", DType::F32, {n});
    if (!o.checkpointing)
        for (std::int64_t l = 0; l < c.num_layers; ++l) add_layer_acts(p.act, p.act_ids, c, o, lora);
    // Workspace for the whole step.
    p.tokens = p.work.add("tokens", DType::I32, {n});
    p.targets = p.work.add("targets", DType::I32, {n});
    p.positions = p.work.add("positions", DType::I32, {n});
    p.cu_seqlens = p.work.add("cu_seqlens", DType::I32, {n + 1});
    p.head_rows = p.work.add("head_rows", DType::I32, {n});
    const std::int64_t inter = c.intermediate_size, h = c.hidden_size;
    if (!weights_in_place) {
        p.qkv_weight = p.work.add("w_qkv", a, {qd + 2 * kvd, h});
        p.o_weight = p.work.add("w_o", a, {h, qd});
        p.gate_up_weight = p.work.add("w_gate_up", a, {2 * inter, h});
        p.down_weight = p.work.add("w_down", a, {h, inter});
        if (c.qkv_bias) p.qkv_bias = p.work.add("b_qkv", a, {qd + 2 * kvd});
    }
    p.tmp = p.work.add("tmp", a, nc);
    p.grads[0] = p.work.add("d_residual", a, nc);
    p.grads[1] = p.work.add("d_norm", a, nc);
    p.losses = p.work.add("losses", DType::F32, {n});
    p.loss_sum = p.work.add("loss_sum", DType::F32, {1});
    p.cos = p.work.add("rope_cos", DType::F32, {o.max_seq, c.head_dim / 2});
    p.sin = p.work.add("rope_sin", DType::F32, {o.max_seq, c.head_dim / 2});
    // The layers' scratch and the LM head's never live at the same time: they share bytes.
    p.work.begin_phases();
    if (o.checkpointing) add_layer_acts(p.work, p.work_ids, c, o, lora);
    // The backend says what its attention needs for the longest sequence a batch may hold.
    const std::size_t attention =
        planner.attention_workspace_bytes({n, o.max_seq, c.num_heads, c.num_kv_heads, c.head_dim});
    p.attention_workspace = p.work.add("attention_workspace", DType::U8, {static_cast<std::int64_t>(attention)});
    p.grads[2] = p.work.add("d_att", a, {n, qd});
    p.grads[3] = p.work.add("d_qkv", a, {n, qd + 2 * kvd});
    p.grads[4] = p.work.add("d_act", a, ri);
    p.grads[5] = p.work.add("d_gate_up", a, {ri[0], 2 * inter});
    p.work.next_phase();
    p.head_in = p.work.add("head_in", a, nc);
    p.logits = p.work.add("logits", a, {chunk, c.vocab_size});
    p.work.end_phases();
    return p;
}

LlamaModel::PlannedBytes LlamaModel::planned_bytes(const LlamaConfig& c, const ModelRunOptions& o,
                                                   const MemoryPlanner& planner, const LoraConfig* lora,
                                                   bool weights_in_place) {
    const Plans p = make_plans(c, o, logits_rows(c, o), planner, lora, weights_in_place);
    return {p.act.total_bytes(), p.work.total_bytes(), p.offload_host};
}

StepShapes LlamaModel::step_shapes(const LlamaConfig& c, const ModelRunOptions& o, const LoraConfig* lora,
                                   bool weights_in_place, DType head_weight) {
    const std::int64_t n = o.max_batch * o.max_seq, m = mlp_rows(o);
    const std::int64_t h = c.hidden_size, inter = c.intermediate_size;
    const std::int64_t qd = c.num_heads * c.head_dim, kvd = c.num_kv_heads * c.head_dim;
    StepShapes s;
    s.compute = o.compute;
    s.rows = n;
    s.mlp_rows = m;
    s.logits_rows = logits_rows(c, o);
    s.hidden = h;
    s.intermediate = inter;
    s.q_dim = qd;
    s.kv_dim = kvd;
    s.vocab = c.vocab_size;
    s.layer_weights_in_place = weights_in_place;
    // Every layer linear gets its weight in the compute dtype (in place or materialized) and
    // keeps its adapters' x·Aᵀ.
    auto layer = [&](LinearGroup g, std::int64_t rows, std::int64_t in, std::int64_t out) {
        const std::int64_t ranks = lora ? lora->group_rank(g) : 0;
        const bool dropout = ranks > 0 && lora->dropout > 0;
        s.linears.push_back({rows, in, out, ranks, dropout, ranks > 0, true, o.compute, true});
    };
    layer(LinearGroup::Qkv, n, h, qd + 2 * kvd);
    layer(LinearGroup::O, n, qd, h);
    layer(LinearGroup::GateUp, m, h, 2 * inter);
    layer(LinearGroup::Down, m, inter, h);
    s.linears.push_back({s.logits_rows, h, c.vocab_size, 0, false, false, true, head_weight, false});
    return s;
}

void LlamaModel::plan_buffers() {
    const Plans p = make_plans(m_base.config(), m_options, m_chunk, m_backend, m_lora ? &m_lora->config() : nullptr,
                               m_base.layers_in_compute_dtype());
    m_act_buffer = p.act.allocate(m_backend, Usage::Activations, "activations");
    m_work_buffer = p.work.allocate(m_backend, Usage::Workspace, "workspace");
    for (std::size_t id : p.inputs) m_inputs.push_back(p.act.tensor(m_act_buffer, id));
    m_slot_free.resize(m_inputs.size());
    m_slot_fetched.resize(m_inputs.size());
    if (p.offload_host > 0)
        m_offload_host = m_backend.allocate(p.offload_host, Usage::PagedHost, "offloaded layer inputs on the host");
    m_normf = p.act.tensor(m_act_buffer, p.normf);
    m_rstdf = p.act.tensor(m_act_buffer, p.rstdf);
    if (m_options.checkpointing) {
        m_acts.push_back(layer_acts(p.work, m_work_buffer, p.work_ids, 0));
    } else {
        for (std::size_t l = 0; l < p.act_ids.size() / kActsPerLayer; ++l)
            m_acts.push_back(layer_acts(p.act, m_act_buffer, p.act_ids, l * kActsPerLayer));
    }
    auto w = [&](std::size_t id) { return p.work.tensor(m_work_buffer, id); };
    m_tokens = w(p.tokens);
    m_targets = w(p.targets);
    m_positions = w(p.positions);
    m_cu_seqlens = w(p.cu_seqlens);
    m_attention_workspace = w(p.attention_workspace);
    m_head_rows = w(p.head_rows);
    m_head_in = w(p.head_in);
    const LlamaConfig& c = m_base.config();
    const std::int64_t qd = c.num_heads * c.head_dim, kvd = c.num_kv_heads * c.head_dim;
    auto dense = [](const Tensor& t) {
        LinearWeight lw;
        lw.dense = t;
        lw.out = t.dim(0);
        lw.in = t.dim(1);
        return lw;
    };
    m_qkv_rows = {0, qd, qd + kvd, qd + 2 * kvd};
    if (!m_base.layers_in_compute_dtype()) {
        m_layer_weights.qkv = dense(w(p.qkv_weight));
        if (c.qkv_bias) m_layer_weights.qkv.bias = w(p.qkv_bias);
        m_layer_weights.o = dense(w(p.o_weight));
        m_layer_weights.gate_up = dense(w(p.gate_up_weight));
        m_layer_weights.down = dense(w(p.down_weight));
    }
    m_tmp = w(p.tmp);
    m_grads = {w(p.grads[0]), w(p.grads[1]), w(p.grads[2]), w(p.grads[3]), w(p.grads[4]), w(p.grads[5])};
    m_logits = w(p.logits);
    m_losses = w(p.losses);
    m_loss_sum = w(p.loss_sum);
    m_rope_cos = w(p.cos);
    m_rope_sin = w(p.sin);
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
    const std::int64_t vocab = m_base.config().vocab_size;
    for (std::size_t i = 0; i < batch.tokens.size(); ++i) {
        const std::int32_t id = batch.tokens[i], target = batch.targets[i];
        QLS_CHECK(DataError, id >= 0 && id < vocab, "token id ", id, " at position ", i,
                  " is outside the model's vocabulary of ", vocab, " (is the tokenizer the model's own?)");
        QLS_CHECK(DataError, target == kIgnoreIndex || (target >= 0 && target < vocab), "target token id ",
                  target, " at position ", i, " is outside the model's vocabulary of ", vocab);
        // The RoPE table covers the planned sequence length.
        QLS_CHECK(DataError, batch.positions[i] >= 0 && batch.positions[i] < m_options.max_seq, "position ",
                  batch.positions[i], " at ", i, " is outside the planned sequence length ", m_options.max_seq);
        QLS_CHECK(DataError, batch.segments[i] >= -1, "segment ", batch.segments[i], " at ", i,
                  " (padding is -1, examples count from 0)");
    }
    // The loss reads only the rows that have a target: their indices and targets, packed.
    std::vector<std::int32_t> rows, targets;
    for (std::size_t i = 0; i < batch.targets.size(); ++i)
        if (batch.targets[i] != kIgnoreIndex) {
            rows.push_back(static_cast<std::int32_t>(i));
            targets.push_back(batch.targets[i]);
        }
    m_backend.copy_from_host(m_tokens.head(n), as_bytes_of(batch.tokens));
    if (!rows.empty()) {
        m_backend.copy_from_host(m_head_rows.head(static_cast<std::int64_t>(rows.size())), as_bytes_of(rows));
        m_backend.copy_from_host(m_targets.head(static_cast<std::int64_t>(targets.size())), as_bytes_of(targets));
    }
    m_backend.copy_from_host(m_positions.head(n), as_bytes_of(batch.positions));
    const SequenceOffsets seqs = sequence_offsets(batch.batch, batch.seq_len, batch.segments);
    m_backend.copy_from_host(m_cu_seqlens.head(static_cast<std::int64_t>(seqs.cu.size())), as_bytes_of(seqs.cu));
    return {batch.batch, batch.seq_len, n, static_cast<std::int64_t>(seqs.cu.size()) - 1, seqs.max_len,
            static_cast<std::int64_t>(rows.size())};
}

// Each of the layer's base weights dequantized once (a recompute and the backward that follows
// it share them), in the compute dtype.
const LlamaModel::LayerWeights& LlamaModel::materialize(std::int64_t layer) {
    if (m_materialized == layer) return m_layer_weights;
    const DeviceLayer& base = m_base.layers()[static_cast<std::size_t>(layer)];
    if (m_base.layers_in_compute_dtype()) {
        m_layer_weights = {base.qkv, base.o, base.gate_up, base.down};
        m_materialized = layer;
        return m_layer_weights;
    }
    const std::int64_t inter = m_base.config().intermediate_size;
    const Tensor qkv = m_layer_weights.qkv.dense, gate_up = m_layer_weights.gate_up.dense;
    const std::pair<const LinearWeight*, Tensor> parts[7] = {
        {&base.q, qkv.row_slice(m_qkv_rows[0], m_qkv_rows[1] - m_qkv_rows[0])},
        {&base.k, qkv.row_slice(m_qkv_rows[1], m_qkv_rows[2] - m_qkv_rows[1])},
        {&base.v, qkv.row_slice(m_qkv_rows[2], m_qkv_rows[3] - m_qkv_rows[2])},
        {&base.o, m_layer_weights.o.dense},
        {&base.gate, gate_up.row_slice(0, inter)},
        {&base.up, gate_up.row_slice(inter, inter)},
        {&base.down, m_layer_weights.down.dense}};
    for (const auto& [from, to] : parts) m_backend.dequantize_weight(*from, to);
    if (!m_layer_weights.qkv.bias.empty()) {
        // Qwen2's q, k and v biases, stacked the same way (a 1-row "weight" each, converted).
        const LinearWeight* linears[3] = {&base.q, &base.k, &base.v};
        const Tensor bias = m_layer_weights.qkv.bias.reshaped({m_qkv_rows[3], 1});
        for (std::size_t i = 0; i < 3; ++i) {
            LinearWeight row;
            row.in = linears[i]->out;
            row.out = 1;
            row.dense = linears[i]->bias.reshaped({1, row.in});
            m_backend.dequantize_weight(row, bias.row_slice(m_qkv_rows[i], row.in));
        }
    }
    m_materialized = layer;
    return m_layer_weights;
}

std::vector<LoraPart> LlamaModel::lora_parts(std::int64_t layer,
                                             std::initializer_list<std::pair<LoraTarget, std::int64_t>> targets,
                                             std::uint64_t seed, bool use_dropout, bool with_grads) const {
    std::vector<LoraPart> parts;
    if (!m_lora) return parts;
    for (const auto& [t, offset] : targets)
        if (m_lora->view(layer, t)) parts.push_back({lora_view(layer, t, seed, use_dropout, with_grads), offset});
    return parts;
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

bool LlamaModel::offloaded(std::int64_t l) const {
    return l + static_cast<std::int64_t>(m_inputs.size()) <= m_base.config().num_layers;
}

std::span<std::byte> LlamaModel::host_input(std::int64_t l, std::int64_t rows) const {
    // Input l's home holds the planned (N, C); a batch moves its own rows only.
    const std::size_t row = static_cast<std::size_t>(m_base.config().hidden_size) * dtype_size(m_options.compute);
    const auto planned = static_cast<std::size_t>(m_options.max_batch * m_options.max_seq) * row;
    return {m_offload_host.data() + static_cast<std::size_t>(l) * planned, static_cast<std::size_t>(rows) * row};
}

// The slot's previous input may still be on its way to the host.
void LlamaModel::wait_for_slot(std::int64_t l) {
    const std::size_t slot = static_cast<std::size_t>(l) % m_inputs.size();
    m_backend.wait(Stream::Compute, std::exchange(m_slot_free[slot], Event{}));
}

void LlamaModel::offload_input(std::int64_t l, std::int64_t rows) {
    const std::size_t slot = static_cast<std::size_t>(l) % m_inputs.size();
    // After the layer that read it last, which the copy stream has not seen yet.
    m_backend.wait(Stream::Copy, m_backend.record(Stream::Compute));
    m_backend.copy_to_host_async(Stream::Copy, input(l).head(rows), host_input(l, rows));
    m_slot_free[slot] = m_backend.record(Stream::Copy);
    m_moves.push_back({true, l, static_cast<std::int64_t>(host_input(l, rows).size()), std::chrono::steady_clock::now()});
}

void LlamaModel::fetch_input(std::int64_t l, std::int64_t rows) {
    const std::size_t slot = static_cast<std::size_t>(l) % m_inputs.size();
    // The slot's previous input (l + S) had its last use in a backward already issued; the
    // copy out of input l ran earlier on the same stream.
    m_backend.wait(Stream::Copy, m_backend.record(Stream::Compute));
    m_backend.copy_from_host_async(Stream::Copy, input(l).head(rows), host_input(l, rows));
    m_slot_fetched[slot] = m_backend.record(Stream::Copy);
    m_moves.push_back({false, l, static_cast<std::int64_t>(host_input(l, rows).size()), std::chrono::steady_clock::now()});
}

void LlamaModel::embed_and_run_layers(const Shapes& s, std::uint64_t dropout_seed, bool use_dropout,
                                      bool for_backward) {
    wait_for_slot(0);
    m_backend.embedding_forward({m_tokens.head(s.n), m_base.embed(), input(0).head(s.n)});
    const std::int64_t layers = m_base.config().num_layers;
    for (std::int64_t l = 0; l < layers; ++l) {
        wait_for_slot(l + 1);
        const Tensor out = input(l + 1);
        layer_forward(l, s, acts_for(l), input(l), &out, dropout_seed, use_dropout);
        if (for_backward && offloaded(l)) offload_input(l, s.n);
    }
}

// Final norm, LM head and loss over the M rows that have a target only (gathered), in chunks;
// with backward, d(final hidden) of those rows, zero elsewhere, into m_grads.residual.
void LlamaModel::head_loss(const Shapes& s, float grad_scale, bool backward) {
    const std::int64_t m = s.trained, layers = m_base.config().num_layers;
    if (m == 0) {
        if (backward) m_backend.fill_zero(m_grads.residual.head(s.n));
        return;
    }
    const Tensor rows = m_head_rows.head(m), hidden = m_head_in.head(m);
    m_backend.gather_rows(input(layers).head(s.n), rows, hidden);
    const auto eps = static_cast<float>(m_base.config().rms_norm_eps);
    m_backend.rmsnorm_forward({hidden, m_base.final_norm(), eps, m_normf.head(m), m_rstdf.head(m)});
    const Tensor targets = m_targets.reshaped({m_targets.numel(), 1});
    const Tensor losses = m_losses.reshaped({m_losses.numel(), 1});
    for (std::int64_t r = 0; r < m; r += m_chunk) {
        const std::int64_t count = std::min(m_chunk, m - r);
        const Tensor h = m_normf.row_slice(r, count);
        const Tensor logits = m_logits.row_slice(0, count);
        m_backend.linear_forward({h, &m_base.lm_head(), {}, logits, {}, {}});
        m_backend.cross_entropy({logits, targets.row_slice(r, count), losses.row_slice(r, count), grad_scale,
                                 backward, m_loss_sum});
        if (backward)
            m_backend.linear_backward({h, logits, &m_base.lm_head(), {}, {}, false, m_grads.norm.row_slice(r, count),
                                       GradMode::Overwrite});
    }
    if (!backward) return;
    const Tensor dhidden = m_tmp.head(m);
    m_backend.rmsnorm_backward({hidden, m_base.final_norm(), m_rstdf.head(m), m_grads.norm.head(m), dhidden,
                                GradMode::Overwrite});
    m_backend.scatter_rows(dhidden, rows, m_grads.residual.head(s.n));
}

void LlamaModel::reset_loss() {
    m_backend.fill_zero(m_loss_sum);
    m_loss_tokens = 0;
}

LossSum LlamaModel::read_loss() {
    float sum = 0;
    m_backend.copy_to_host(m_loss_sum, std::as_writable_bytes(std::span(&sum, 1)));
    return {sum, m_loss_tokens};
}

void LlamaModel::forward_backward(const Batch& batch, float grad_scale, std::uint64_t dropout_seed) {
    QLS_ASSERT(m_lora != nullptr, "forward_backward needs LoRA parameters to train");
    const Shapes s = upload_batch(batch);
    embed_and_run_layers(s, dropout_seed, true, true);
    head_loss(s, grad_scale, true);
    m_loss_tokens += batch.trained_tokens();
    const std::int64_t layers = m_base.config().num_layers;
    for (std::int64_t l = layers - 1; l >= 0; --l) {
        // One layer ahead: the fetch of the next input overlaps this layer's backward.
        if (l > 0 && offloaded(l - 1)) fetch_input(l - 1, s.n);
        // Its own fetch, issued one layer ago, lands before the recompute reads it.
        const std::size_t slot = static_cast<std::size_t>(l) % m_inputs.size();
        m_backend.wait(Stream::Compute, std::exchange(m_slot_fetched[slot], Event{}));
        if (m_options.checkpointing)
            layer_forward(l, s, acts_for(l), input(l), nullptr, dropout_seed, true);
        layer_backward(l, s, acts_for(l), input(l), dropout_seed, true);
    }
}

void LlamaModel::add_loss(const Batch& batch) {
    const Shapes s = upload_batch(batch);
    embed_and_run_layers(s, 0, false, false);
    head_loss(s, 1.0f, false);
    m_loss_tokens += batch.trained_tokens();
}

LossSum LlamaModel::evaluate(const Batch& batch) {
    reset_loss();
    add_loss(batch);
    return read_loss();
}

std::vector<float> LlamaModel::logits(const Batch& batch) {
    const Shapes s = upload_batch(batch);
    embed_and_run_layers(s, 0, false, false);
    const std::int64_t vocab = m_base.config().vocab_size;
    const DType a = m_options.compute;
    std::vector<std::byte> stored(static_cast<std::size_t>(m_chunk * vocab) * dtype_size(a));
    m_backend.rmsnorm_forward({input(m_base.config().num_layers).head(s.n), m_base.final_norm(),
                               static_cast<float>(m_base.config().rms_norm_eps), m_normf.head(s.n),
                               m_rstdf.head(s.n)});
    std::vector<float> out(static_cast<std::size_t>(s.n * vocab));
    for (std::int64_t r = 0; r < s.n; r += m_chunk) {
        const std::int64_t count = std::min(m_chunk, s.n - r);
        const Tensor logits = m_logits.row_slice(0, count);
        m_backend.linear_forward({m_normf.row_slice(r, count), &m_base.lm_head(), {}, logits, {}, {}});
        const std::span<std::byte> bytes(stored.data(), logits.bytes());
        m_backend.copy_to_host(logits, bytes);
        to_f32(TensorView{a, {count, vocab}, bytes},
               std::span(out).subspan(static_cast<std::size_t>(r * vocab), static_cast<std::size_t>(count * vocab)));
    }
    return out;
}

}  // namespace qls
