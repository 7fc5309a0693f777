// Whether a run offloads its checkpointed layer inputs to host memory (llama_model.h): "on" and
// "off" say so; "auto" decides from the memory estimate, before anything is allocated, turning
// offload on only when the run would not fit the device budget without it. Offload costs host
// memory and copy bandwidth and never changes a result, so a run that fits keeps it off. The
// estimate chunks the MLP first (options.mlp_chunk automatic), which costs no arithmetic; offload
// turns on only when that is not enough.
#pragma once
#include <string>
#include <string_view>

#include "core/model/model_layout.h"
#include "core/train/memory_estimate.h"

namespace qls {

struct OffloadChoice {
    bool offload = false;
    std::string reason;  // why, in one line, for the run's log ("" for a plain on/off)
};

// `options` describe the run (offload_checkpoints ignored); its device_bytes is the budget
// (0: unknown, so auto stays off). ConfigError for a mode other than off, on, auto.
OffloadChoice choose_offload(std::string_view mode, const ModelLayout& model, const EstimateOptions& options,
                             const MemoryPlanner& planner);

}  // namespace qls
