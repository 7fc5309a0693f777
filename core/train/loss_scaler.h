// Dynamic loss scaling for fp16 compute (torch.amp.GradScaler's rule): the loss gradient is
// multiplied by `scale` so that small activation gradients stay above fp16's smallest normal
// (6.1e-5); the optimizer divides it out again (ClipGradNormArgs::grad_scale). A step whose
// gradients overflow is skipped on the device and the scale backs off; after growth_interval
// steps without overflow it grows. bf16 and fp32 share fp32's exponent range: no scaling.
#pragma once
#include <cstdint>

#include <nlohmann/json_fwd.hpp>

namespace qls {

struct LossScaleState {
    double scale = 1.0;              // 1 and never changing when disabled
    std::int64_t good_steps = 0;     // steps since the last overflow or growth
    std::int64_t skipped_steps = 0;  // in the whole run

    nlohmann::json to_json() const;
    static LossScaleState from_json(const nlohmann::json& j);  // FormatError when malformed
};

class LossScaler {
public:
    // torch's defaults: ×2 every 2000 good steps, ×0.5 on overflow (and 2^16 to start).
    static constexpr double kGrowth = 2.0, kBackoff = 0.5;
    static constexpr std::int64_t kGrowthInterval = 2000;

    LossScaler(bool enabled, double initial_scale);
    bool enabled() const { return m_enabled; }
    double scale() const { return m_state.scale; }
    const LossScaleState& state() const { return m_state; }
    void restore(const LossScaleState& s);  // a resumed run continues with its scale

    // After a step: applied false means the device skipped the update (non-finite gradients).
    void update(bool applied);

private:
    bool m_enabled;
    LossScaleState m_state;
};

}  // namespace qls
