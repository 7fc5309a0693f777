// "How long a sequence fits, and how much longer with offloaded checkpoints?": the sequence-length
// fit search (fit_search.h) run twice over the same run settings, once with the checkpointed layer
// inputs on the device and once with them in host memory. `qlora estimate --longest-seq` and the
// studio's Hparams page both show it, so they can never disagree.
#pragma once
#include <optional>

#include "core/train/fit_search.h"

namespace qls {

struct LongestSeq {
    FitResult plain;                     // checkpoints on the device
    std::optional<FitResult> offloaded;  // checkpoints in host memory; only with gradient checkpointing
};

// At options' micro-batch and rank against options.device_bytes, to the token (the search's
// granularity); options.offload_checkpoints is ignored. ConfigError when device_bytes is not set.
LongestSeq longest_seq(const ModelLayout& model, const EstimateOptions& options, const MemoryPlanner& planner);

}  // namespace qls
