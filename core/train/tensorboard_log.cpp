#include "core/train/tensorboard_log.h"

#include <cctype>

#include "core/util/error.h"

namespace qls {

namespace {

// "LoRA weights" -> "lora_weights": tags without spaces read better in TensorBoard's filter.
std::string tag_name(std::string_view words) {
    std::string out;
    for (char c : words)
        out += c == ' ' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

constexpr double kMiB = 1024.0 * 1024.0;

}  // namespace

std::vector<TensorBoardScalar> tensorboard_scalars(const TrainEvent& e) {
    if (const auto* s = std::get_if<StepMetrics>(&e))
        return {{"train/loss", s->step, s->loss},
                {"train/lr", s->step, s->lr},
                {"train/grad_norm", s->step, s->grad_norm},
                {"train/tokens_per_s", s->step, s->tokens_per_s},
                {"train/trained_tokens", s->step, static_cast<double>(s->trained_tokens)},
                {"train/epoch", s->step, s->epoch},
                {"train/loss_scale", s->step, s->loss_scale}};
    if (const auto* r = std::get_if<EvalResult>(&e))
        return {{"eval/loss", r->step, r->loss}, {"eval/perplexity", r->step, r->perplexity}};
    if (const auto* m = std::get_if<MemorySample>(&e)) {
        // MiB: TensorBoard's axis labels do not shorten bytes.
        std::vector<TensorBoardScalar> out;
        for (Usage u : kAllUsages)
            out.push_back({"memory_MiB/" + tag_name(usage_name(u)), m->step,
                           static_cast<double>(m->memory.current_of(u)) / kMiB});
        out.push_back(
            {"memory_MiB/device_total", m->step, static_cast<double>(m->memory.device_current) / kMiB});
        out.push_back({"memory_MiB/device_peak", m->step, static_cast<double>(m->memory.device_peak) / kMiB});
        return out;
    }
    return {};
}

TensorBoardLog::TensorBoardLog(std::filesystem::path run_dir, std::chrono::milliseconds retry_for)
    : m_dir(std::move(run_dir) / "tensorboard"), m_retry_for(retry_for) {}

std::optional<std::string> TensorBoardLog::add(const TrainEvent& e) {
    if (m_failed) return std::nullopt;
    const std::vector<TensorBoardScalar> scalars = tensorboard_scalars(e);
    if (scalars.empty()) return std::nullopt;
    try {
        if (!m_writer) m_writer.emplace(m_dir, m_retry_for);
        const double now = unix_time_now();
        for (const TensorBoardScalar& s : scalars)
            m_writer->add_scalar(s.tag, s.step, static_cast<float>(s.value), now);
        return std::nullopt;
    } catch (const std::exception& error) {  // IoError, or std::filesystem's own
        m_failed = true;
        m_writer.reset();
        return str_cat("TensorBoard event file no longer written (", error.what(),
                       "); metrics.jsonl still has every step");
    }
}

}  // namespace qls
