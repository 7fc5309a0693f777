#include "core/train/adamw_optimizer.h"

#include <array>
#include <cmath>
#include <cstring>
#include <map>

namespace qls {

namespace {

constexpr const char* kStepName = "step";

std::int64_t total_elements(const std::vector<LoraParameters::Param>& params) {
    std::int64_t n = 0;
    for (const auto& p : params) {
        QLS_ASSERT(
            p.value.dtype == DType::F32 && p.grad.dtype == DType::F32 && p.grad.numel() == p.value.numel(),
            "optimizer parameter ", p.name, ": ", describe(p.value), " grad ", describe(p.grad));
        n += p.value.numel();
    }
    return n;
}

const AdamWConfig& validated(const AdamWConfig& c) {
    c.validate();
    return c;
}

// Elements [begin, begin + count) of a contiguous F32 tensor as a 1-D view.
Tensor elements(const Tensor& t, std::int64_t begin, std::int64_t count) {
    return {t.data + begin * static_cast<std::int64_t>(sizeof(float)), DType::F32, {count}};
}

std::vector<std::byte> float_bytes(const std::vector<float>& v) {
    std::vector<std::byte> out(v.size() * sizeof(float));
    std::memcpy(out.data(), v.data(), out.size());
    return out;
}

const OwnedTensor& find_state(const std::map<std::string_view, const OwnedTensor*>& by_name,
                              const std::string& name, DType dtype, const Shape& shape) {
    auto it = by_name.find(name);
    QLS_CHECK(FormatError, it != by_name.end(), "optimizer state has no tensor '", name, "'");
    const OwnedTensor& t = *it->second;
    QLS_CHECK(FormatError,
              t.dtype == dtype && t.shape == shape &&
                  t.data.size() == static_cast<std::size_t>(numel(shape)) * dtype_size(dtype),
              "optimizer state tensor '", name, "': expected ", dtype_name(dtype), " ", shape, ", got ",
              dtype_name(t.dtype), " ", t.shape, " with ", t.data.size(), " bytes");
    return t;
}

}  // namespace

ConfigProblems AdamWConfig::problems() const {
    ConfigProblems p("optim.");
    p.require(std::isfinite(lr) && lr > 0, "learning_rate", "must be a number greater than 0; ", given(lr));
    p.require(beta1 >= 0 && beta1 < 1, "adam_beta1", "must be at least 0 and below 1; ", given(beta1));
    p.require(beta2 >= 0 && beta2 < 1, "adam_beta2", "must be at least 0 and below 1; ", given(beta2));
    p.require(std::isfinite(eps) && eps >= 0, "adam_eps", "must be a number, 0 or more; ", given(eps));
    p.require(std::isfinite(weight_decay) && weight_decay >= 0, "weight_decay", "must be 0 or more; ",
              given(weight_decay));
    p.require(std::isfinite(max_grad_norm) && max_grad_norm >= 0, "max_grad_norm",
              "must be 0 (no clipping) or more; ", given(max_grad_norm));
    return p;
}

void AdamWConfig::validate() const { problems().throw_if_any(); }

AdamWOptimizer::AdamWOptimizer(Backend& backend, std::vector<LoraParameters::Param> params,
                               const AdamWConfig& config, const PagingConfig& paging)
    : m_backend(backend),
      m_params(std::move(params)),
      m_config(validated(config)),
      m_state(backend, total_elements(m_params), paging),
      m_control_buffer(backend.allocate(kControlBytes, Usage::OptimizerState, "optimizer step control")),
      m_control(m_control_buffer.whole(DType::F32)) {
    std::int64_t offset = 0;
    for (const auto& p : m_params) {
        m_ranges.push_back({p.name, offset, p.value.numel()});
        m_grads.push_back(p.grad);
        offset += p.value.numel();
    }
}

OptimizerStepResult AdamWOptimizer::step(double lr, const Tensor& loss_sum, float grad_scale) {
    QLS_ASSERT(std::isfinite(lr) && lr >= 0, "optimizer step at learning rate ", lr);
    m_backend.clip_grad_norm({m_grads, loss_sum, grad_scale, static_cast<float>(m_config.max_grad_norm), m_control});
    ++m_step;
    AdamWArgs args;
    args.lr = static_cast<float>(lr);
    args.beta1 = static_cast<float>(m_config.beta1);
    args.beta2 = static_cast<float>(m_config.beta2);
    args.eps = static_cast<float>(m_config.eps);
    args.weight_decay = static_cast<float>(m_config.weight_decay);
    args.control = m_control;
    args.step = m_step;
    // AdamW is elementwise, so each resident page slice updates on its own; the pager walks
    // the whole state in page order, moving streamed pages around the updates.
    m_state.update(m_step, m_ranges, [&](std::size_t i, const PagedState::Slice& s) {
        const auto& p = m_params[i];
        const std::int64_t local = s.begin - m_ranges[i].begin, count = s.m.numel();
        args.param = elements(p.value, local, count);
        args.grad = elements(p.grad, local, count);
        args.m = s.m;
        args.v = s.v;
        m_backend.adamw_step(args);
    });
    // The step's one read: loss, norm and whether the device applied the update.
    std::array<float, 5> control{};
    m_backend.copy_to_host(m_control, std::as_writable_bytes(std::span(control)));
    OptimizerStepResult result;
    result.loss_sum = control[0];
    result.grad_norm = std::sqrt(static_cast<double>(control[1]));
    result.clip_coef = control[2] / grad_scale;
    result.applied = control[3] != 0.0f;
    result.params_finite = control[4] == 0.0f;
    if (!result.applied) --m_step;  // the device left parameters and state untouched
    return result;
}

std::vector<OwnedTensor> AdamWOptimizer::export_state() {
    std::vector<OwnedTensor> out;
    for (std::size_t i = 0; i < m_params.size(); ++i) {
        const auto& p = m_params[i];
        std::vector<float> m(static_cast<std::size_t>(p.value.numel()));
        std::vector<float> v(m.size());
        m_state.read(m_ranges[i].begin, m, v);
        out.push_back({p.name + ".exp_avg", DType::F32, p.value.shape, float_bytes(m)});
        out.push_back({p.name + ".exp_avg_sq", DType::F32, p.value.shape, float_bytes(v)});
    }
    std::vector<std::byte> step(sizeof(std::int64_t));
    std::memcpy(step.data(), &m_step, step.size());
    out.push_back({kStepName, DType::I64, {1}, std::move(step)});
    return out;
}

void AdamWOptimizer::import_state(std::span<const OwnedTensor> tensors) {
    std::map<std::string_view, const OwnedTensor*> by_name;
    for (const OwnedTensor& t : tensors) by_name.emplace(t.name, &t);
    // Check everything before writing anything, so a bad file leaves the state as it was.
    std::int64_t step = 0;
    std::memcpy(&step, find_state(by_name, kStepName, DType::I64, {1}).data.data(), sizeof step);
    QLS_CHECK(FormatError, step >= 0, "optimizer state 'step' must be >= 0, got ", step);
    std::vector<std::pair<const OwnedTensor*, const OwnedTensor*>> found;
    for (const auto& p : m_params)
        found.emplace_back(&find_state(by_name, p.name + ".exp_avg", DType::F32, p.value.shape),
                           &find_state(by_name, p.name + ".exp_avg_sq", DType::F32, p.value.shape));
    // Every expected name was found, so a count match also rules out extras and duplicates.
    QLS_CHECK(FormatError, tensors.size() == 2 * m_params.size() + 1, "optimizer state has ", tensors.size(),
              " tensors, expected ", 2 * m_params.size() + 1, " (exp_avg and exp_avg_sq of ", m_params.size(),
              " parameters, and step)");
    for (std::size_t i = 0; i < m_params.size(); ++i) {
        std::vector<float> m(static_cast<std::size_t>(m_params[i].value.numel()));
        std::vector<float> v(m.size());
        std::memcpy(m.data(), found[i].first->data.data(), m.size() * sizeof(float));
        std::memcpy(v.data(), found[i].second->data.data(), v.size() * sizeof(float));
        m_state.write(m_ranges[i].begin, m, v);
    }
    m_step = step;
}

}  // namespace qls
