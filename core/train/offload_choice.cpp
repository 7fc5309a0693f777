#include "core/train/offload_choice.h"

#include "core/util/error.h"
#include "core/backend/memory_accountant.h"

namespace qls {

OffloadChoice choose_offload(std::string_view mode, const ModelLayout& model, const EstimateOptions& options,
                             const MemoryPlanner& planner) {
    QLS_CHECK(ConfigError, mode == "off" || mode == "on" || mode == "auto",
              "offload_checkpoints: expected off, on or auto, got '", mode, "'");
    if (mode != "auto") return {mode == "on", ""};
    if (!options.checkpointing || options.device_bytes <= 0) return {};
    EstimateOptions o = options;
    o.offload_checkpoints = false;
    const MemoryEstimate without = estimate_memory(model, o, planner);
    if (without.fits) return {};
    o.offload_checkpoints = true;
    const MemoryEstimate with = estimate_memory(model, o, planner);
    if (with.device_total >= without.device_total) return {};  // too few layers for anything to move
    return {true, str_cat("offloading checkpoints to host memory: the run needs ", format_bytes(without.device_total),
                          " of device memory without it and ", format_bytes(with.device_total), " with it (budget ",
                          format_bytes(options.device_bytes), "; ", format_bytes(with.offload_host), " on the host)")};
}

}  // namespace qls
