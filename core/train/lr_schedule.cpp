#include "core/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/util/error.h"

namespace qls {

std::string_view lr_schedule_name(LrScheduleType t) {
    switch (t) {
        case LrScheduleType::Constant:
            return "constant";
        case LrScheduleType::Linear:
            return "linear";
        case LrScheduleType::Cosine:
            return "cosine";
    }
    return "?";
}

LrScheduleType parse_lr_schedule(std::string_view name) {
    if (name == "constant" || name == "constant_with_warmup") return LrScheduleType::Constant;
    if (name == "linear") return LrScheduleType::Linear;
    if (name == "cosine") return LrScheduleType::Cosine;
    throw ConfigError(
        str_cat("unknown learning-rate schedule '", name, "'; expected constant, linear or cosine"));
}

ConfigProblems LrScheduleConfig::problems() const {
    ConfigProblems p("optim.");
    p.require(warmup_steps >= 0, "warmup_steps", "must be 0 or more; got ", warmup_steps);
    p.require(warmup_ratio >= 0 && warmup_ratio < 1, "warmup_ratio", "must be at least 0 and below 1; ",
              given(warmup_ratio));
    return p;
}

void LrScheduleConfig::validate() const { problems().throw_if_any(); }

LrSchedule::LrSchedule(double base_lr, const LrScheduleConfig& config, std::int64_t total_steps)
    : m_base_lr(base_lr), m_type(config.type), m_total(total_steps) {
    config.validate();
    QLS_CHECK(ConfigError, std::isfinite(base_lr) && base_lr > 0,
              "optim.learning_rate: must be a number greater than 0; ", given(base_lr));
    QLS_CHECK(ConfigError, total_steps >= 1, "schedule needs at least one training step, got total_steps ",
              total_steps);
    m_warmup =
        config.warmup_steps > 0
            ? config.warmup_steps
            : static_cast<std::int64_t>(std::ceil(static_cast<double>(total_steps) * config.warmup_ratio));
}

double LrSchedule::factor_at(std::int64_t step) const {
    QLS_ASSERT(step >= 0, "learning rate at step ", step);
    const auto s = static_cast<double>(step);
    if (step < m_warmup) return s / static_cast<double>(std::max<std::int64_t>(1, m_warmup));
    const auto rest = static_cast<double>(std::max<std::int64_t>(1, m_total - m_warmup));
    switch (m_type) {
        case LrScheduleType::Constant:
            return 1.0;
        case LrScheduleType::Linear:
            return std::max(0.0, static_cast<double>(m_total - step) / rest);
        case LrScheduleType::Cosine: {
            const double progress = static_cast<double>(step - m_warmup) / rest;
            return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
        }
    }
    return 1.0;
}

double LrSchedule::lr_at(std::int64_t step) const {
    return m_base_lr * factor_at(step);
}

}  // namespace qls
