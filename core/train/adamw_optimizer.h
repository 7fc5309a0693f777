// torch.optim.AdamW over the LoRA parameters (decoupled decay, then the bias-corrected step;
// Backend::adamw_step), with global-norm clipping and paged fp32 state (formats.md §4:
// HF "paged_adamw_32bit"; defaults are QLoRA's, §10). bitsandbytes' own kernel decays after
// the step instead; the difference is O(lr²·wd) and we follow torch, which the reference
// fixtures use.
#pragma once
#include <chrono>
#include <cstdint>
#include <vector>

#include "core/io/named_tensor.h"
#include "core/model/lora_parameters.h"
#include "core/train/paged_state.h"

namespace qls {

struct AdamWConfig {
    double lr = 2e-4;  // base rate; the schedule scales it per step
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
    double max_grad_norm = 0.3;  // 0 = no clipping

    ConfigProblems problems() const;  // under "optim.<run.json key>"
    void validate() const;            // ConfigError with every problem
};

struct OptimizerStepResult {
    double loss_sum = 0;     // the loss_sum given to step(), read back with the norm
    double grad_norm = 0;    // before clipping
    float clip_coef = 1.0f;  // the factor AdamW applied to the gradient (1 when not clipped)
    bool applied = false;    // false: the loss or the norm was NaN/Inf and nothing changed
    // false: the update was applied and left a parameter NaN/Inf (a learning rate far too high);
    // the parameters are then unusable and must not be saved.
    bool params_finite = true;
};

class AdamWOptimizer {
public:
    // Device bytes of the step control scalars (Usage::OptimizerState), for the estimate.
    static constexpr std::size_t kControlBytes = 5 * sizeof(float);

    // params: usually LoraParameters::params(); their tensors must outlive the optimizer.
    AdamWOptimizer(Backend& backend, std::vector<LoraParameters::Param> params, const AdamWConfig& config,
                   const PagingConfig& paging = {});

    // Clips and applies one update at rate `lr`, all on the device (Backend::clip_grad_norm),
    // then reads the step's loss, norm and outcome back in one host read. When `loss_sum`
    // (F32 (1) on the device, optional) or the gradient norm is not finite, the device leaves
    // parameters and state untouched, applied is false and the step count stays; the trainer
    // then stops ("loss/gradient became NaN/Inf at step N; lower the learning rate"), or with
    // fp16's loss scaling skips the step. grad_scale divides a loss scale out of the gradients.
    OptimizerStepResult step(double lr, const Tensor& loss_sum = {}, float grad_scale = 1.0f);
    // Updates done so far (torch's state["step"]).
    std::int64_t step_count() const { return m_step; }

    // m and v as "<param>.exp_avg" / "<param>.exp_avg_sq" (F32, the parameter's shape) plus
    // "step" (I64, [1]); gathered from device and host pages without moving any.
    std::vector<OwnedTensor> export_state();
    // The inverse; FormatError naming the tensor when one is missing or mis-shaped.
    void import_state(std::span<const OwnedTensor> tensors);

    const AdamWConfig& config() const { return m_config; }
    const std::vector<LoraParameters::Param>& params() const { return m_params; }
    PagedState& state() { return m_state; }
    void set_time_origin(std::chrono::steady_clock::time_point t) { m_state.set_time_origin(t); }
    std::vector<PagingEvent> drain_paging_events() { return m_state.drain_events(); }

private:
    Backend& m_backend;
    std::vector<LoraParameters::Param> m_params;
    std::vector<PagedState::Range> m_ranges;  // [param] -> its elements in the paged state
    std::vector<Tensor> m_grads;              // [param] -> its gradient, for the norm
    AdamWConfig m_config;
    PagedState m_state;
    Buffer m_control_buffer;
    Tensor m_control;  // F32 (4), ClipGradNormArgs::out
    std::int64_t m_step = 0;
};

}  // namespace qls
