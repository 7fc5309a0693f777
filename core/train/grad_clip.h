// Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_ (HF Trainer,
// max_grad_norm; QLoRA uses 0.3, formats.md §10). The coefficient is handed to AdamW as
// grad_scale instead of rewriting the gradients.
#pragma once
#include <span>

#include "core/backend/backend.h"
#include "core/model/lora_parameters.h"

namespace qls {

// sqrt(Σ grad²) over every parameter; NaN or Inf when any gradient is.
double global_grad_norm(Backend& backend, std::span<const LoraParameters::Param> params);

// min(1, max_norm / (norm + 1e-6)) in fp32 as torch computes it; 1 when max_norm is 0
// (clipping off). `norm` must be finite.
float clip_coefficient(double norm, double max_norm);

}  // namespace qls
