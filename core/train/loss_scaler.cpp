#include "core/train/loss_scaler.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace qls {

nlohmann::json LossScaleState::to_json() const {
    return {{"scale", scale}, {"good_steps", good_steps}, {"skipped_steps", skipped_steps}};
}

LossScaleState LossScaleState::from_json(const nlohmann::json& j) {
    try {
        LossScaleState s;
        s.scale = j.at("scale").get<double>();
        s.good_steps = j.at("good_steps").get<std::int64_t>();
        s.skipped_steps = j.at("skipped_steps").get<std::int64_t>();
        QLS_CHECK(FormatError, std::isfinite(s.scale) && s.scale > 0 && s.good_steps >= 0 && s.skipped_steps >= 0,
                  "loss_scale: scale ", s.scale, ", good_steps ", s.good_steps, ", skipped_steps ",
                  s.skipped_steps);
        return s;
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(str_cat("loss_scale: ", e.what()));
    }
}

LossScaler::LossScaler(bool enabled, double initial_scale) : m_enabled(enabled) {
    if (enabled) m_state.scale = initial_scale;
}

void LossScaler::restore(const LossScaleState& s) {
    if (m_enabled) m_state = s;
}

void LossScaler::update(bool applied) {
    if (!m_enabled) return;
    if (!applied) {
        m_state.scale *= kBackoff;
        m_state.good_steps = 0;
        ++m_state.skipped_steps;
        return;
    }
    if (++m_state.good_steps >= kGrowthInterval) {
        m_state.scale *= kGrowth;
        m_state.good_steps = 0;
    }
}

}  // namespace qls
