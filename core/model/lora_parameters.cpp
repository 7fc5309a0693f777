#include "core/model/lora_parameters.h"

#include <cmath>
#include <random>

namespace qls {

std::pair<std::int64_t, std::int64_t> linear_dims(const LlamaConfig& c, LoraTarget t) {
    const std::int64_t h = c.hidden_size, q = c.num_heads * c.head_dim,
                       kv = c.num_kv_heads * c.head_dim, i = c.intermediate_size;
    switch (t) {
        case LoraTarget::Q: return {h, q};
        case LoraTarget::K:
        case LoraTarget::V: return {h, kv};
        case LoraTarget::O: return {q, h};
        case LoraTarget::Gate:
        case LoraTarget::Up: return {h, i};
        case LoraTarget::Down: return {i, h};
    }
    return {0, 0};
}

namespace {

struct Slot {
    std::int64_t layer;
    LoraTarget target;
    std::size_t a, b;     // indices in the plan; a is the layer's A block for the module's input
    std::int64_t a_row;   // the module's first row in that block
    std::int64_t in, out;
};

BufferPlan plan_modules(const LlamaConfig& model, const LoraConfig& config, std::vector<Slot>* slots) {
    BufferPlan plan;
    for (std::int64_t l = 0; l < model.num_layers; ++l) {
        std::vector<Slot> layer;
        for (LinearGroup g : kLinearGroups) {
            const std::int64_t rows = config.group_rank(g);
            if (rows == 0) continue;
            std::size_t a = 0;
            std::int64_t row = 0;
            for (LoraTarget t : kAllLoraTargets) {
                if (linear_group(t) != g || !config.targets_module(t)) continue;
                auto [in, out] = linear_dims(model, t);
                if (row == 0) a = plan.add(str_cat("model.layers.", l, ".lora_A"), DType::F32, {rows, in});
                const std::size_t b = plan.add(lora_module_name(l, t) + ".lora_B", DType::F32, {out, config.rank});
                layer.push_back({l, t, a, b, row, in, out});
                row += config.rank;
            }
        }
        if (slots) slots->insert(slots->end(), layer.begin(), layer.end());
    }
    return plan;
}

}  // namespace

std::size_t LoraParameters::planned_bytes(const LlamaConfig& model, const LoraConfig& config) {
    return plan_modules(model, config, nullptr).total_bytes();
}

std::unique_ptr<LoraParameters> LoraParameters::from_adapter(Backend& backend, const LlamaConfig& model,
                                                             const LoraAdapter& adapter) {
    auto lora = std::make_unique<LoraParameters>(backend, model, adapter.config);
    lora->from_host(adapter);
    return lora;
}

LoraParameters::LoraParameters(Backend& backend, const LlamaConfig& model, const LoraConfig& config)
    : m_backend(backend), m_config(config) {
    m_config.validate();
    std::vector<Slot> slots;
    const BufferPlan plan = plan_modules(model, m_config, &slots);
    m_values = plan.allocate(backend, Usage::LoraParams, "LoRA weights");
    m_grads = plan.allocate(backend, Usage::LoraGrads, "LoRA gradients");
    m_views.resize(static_cast<std::size_t>(model.num_layers));
    std::mt19937_64 rng(m_config.seed);
    for (const Slot& s : slots) {
        LoraView v;
        v.a = plan.tensor(m_values, s.a).row_slice(s.a_row, m_config.rank);
        v.b = plan.tensor(m_values, s.b);
        v.da = plan.tensor(m_grads, s.a).row_slice(s.a_row, m_config.rank);
        v.db = plan.tensor(m_grads, s.b);
        v.scaling = static_cast<float>(m_config.scaling());
        v.dropout = static_cast<float>(m_config.dropout);
        const float bound = 1.0f / std::sqrt(static_cast<float>(s.in));
        std::uniform_real_distribution<float> uniform(-bound, bound);
        std::vector<float> a(static_cast<std::size_t>(v.a.numel()));
        for (float& x : a) x = uniform(rng);
        backend.copy_from_host(v.a, std::as_bytes(std::span(a)));
        backend.fill_zero(v.b);
        const std::string name = lora_module_name(s.layer, s.target);
        m_params.push_back({name + ".lora_A", v.a, v.da});
        m_params.push_back({name + ".lora_B", v.b, v.db});
        m_views[static_cast<std::size_t>(s.layer)][static_cast<std::size_t>(s.target)] = v;
    }
    zero_grads();
}

const LoraView* LoraParameters::view(std::int64_t layer, LoraTarget t) const {
    const auto& v = m_views.at(static_cast<std::size_t>(layer))[static_cast<std::size_t>(t)];
    return v ? &*v : nullptr;
}

std::int64_t LoraParameters::parameter_count() const {
    std::int64_t n = 0;
    for (const Param& p : m_params) n += p.value.numel();
    return n;
}

void LoraParameters::zero_grads() {
    m_backend.fill_zero(m_grads.whole(DType::U8));
}

LoraAdapter LoraParameters::to_host(const std::string& base_model) const {
    LoraAdapter out;
    out.config = m_config;
    out.base_model = base_model;
    for (std::size_t l = 0; l < m_views.size(); ++l)
        for (LoraTarget t : kAllLoraTargets) {
            const auto& v = m_views[l][static_cast<std::size_t>(t)];
            if (!v) continue;
            LoraPair p;
            p.rank = v->a.dim(0);
            p.in = v->a.dim(1);
            p.out = v->b.dim(0);
            p.a.resize(static_cast<std::size_t>(v->a.numel()));
            p.b.resize(static_cast<std::size_t>(v->b.numel()));
            m_backend.copy_to_host(v->a, std::as_writable_bytes(std::span(p.a)));
            m_backend.copy_to_host(v->b, std::as_writable_bytes(std::span(p.b)));
            out.modules.emplace(lora_module_name(static_cast<std::int64_t>(l), t), std::move(p));
        }
    return out;
}

void LoraParameters::from_host(const LoraAdapter& adapter) {
    for (std::size_t l = 0; l < m_views.size(); ++l)
        for (LoraTarget t : kAllLoraTargets) {
            const auto& v = m_views[l][static_cast<std::size_t>(t)];
            if (!v) continue;
            const std::string name = lora_module_name(static_cast<std::int64_t>(l), t);
            auto it = adapter.modules.find(name);
            QLS_CHECK(FormatError, it != adapter.modules.end(), "adapter has no tensors for ", name);
            const LoraPair& p = it->second;
            QLS_CHECK(FormatError,
                      static_cast<std::int64_t>(p.a.size()) == v->a.numel() &&
                          static_cast<std::int64_t>(p.b.size()) == v->b.numel() &&
                          p.rank == v->a.dim(0),
                      "adapter module ", name, ": expected A ", v->a.shape, " and B ", v->b.shape,
                      ", got rank ", p.rank, " in ", p.in, " out ", p.out);
            m_backend.copy_from_host(v->a, std::as_bytes(std::span(p.a)));
            m_backend.copy_from_host(v->b, std::as_bytes(std::span(p.b)));
        }
}

}  // namespace qls
