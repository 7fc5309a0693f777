// Learning-rate schedules as transformers.optimization builds them
// (get_constant_schedule_with_warmup, get_linear_schedule_with_warmup,
// get_cosine_schedule_with_warmup with num_cycles 0.5), warm-up steps as
// TrainingArguments.get_warmup_steps derives them (warmup_steps, else
// ceil(total · warmup_ratio)).
//
// One deliberate difference (formats.md §10): HF's "constant" ignores warm-up, so QLoRA's
// "constant" with warmup_ratio 0.03 never warms up. Our Constant with warm-up > 0 is HF's
// constant_with_warmup; with warm-up 0 the two are the same.
#pragma once
#include <cstdint>
#include <string_view>

#include "core/util/config_problems.h"

namespace qls {

enum class LrScheduleType : std::uint8_t { Constant, Linear, Cosine };

std::string_view lr_schedule_name(LrScheduleType t);  // "constant", "linear", "cosine"
// Also accepts HF's "constant_with_warmup" (= Constant); ConfigError otherwise.
LrScheduleType parse_lr_schedule(std::string_view name);

struct LrScheduleConfig {
    LrScheduleType type = LrScheduleType::Constant;
    std::int64_t warmup_steps = 0;  // wins over warmup_ratio when > 0, as in HF
    double warmup_ratio = 0;        // of total steps, in [0, 1)

    ConfigProblems problems() const;  // under "optim.<run.json key>"
    void validate() const;            // ConfigError with every problem
};

class LrSchedule {
public:
    LrSchedule(double base_lr, const LrScheduleConfig& config, std::int64_t total_steps);

    // The rate of the optimizer update that follows `step` completed updates (HF's
    // scheduler counter: the first update uses lr_at(0), which is 0 during warm-up).
    double lr_at(std::int64_t step) const;
    // lr_at(step) / base_lr.
    double factor_at(std::int64_t step) const;

    std::int64_t warmup_steps() const { return m_warmup; }
    std::int64_t total_steps() const { return m_total; }
    double base_lr() const { return m_base_lr; }

private:
    double m_base_lr;
    LrScheduleType m_type;
    std::int64_t m_warmup;
    std::int64_t m_total;
};

}  // namespace qls
