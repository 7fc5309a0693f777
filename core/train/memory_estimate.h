// Device memory of a QLoRA run before it starts, by category (the same categories the
// accountant measures): base weights as they will be stored, LoRA weights and gradients,
// optimizer state (resident part under a paging budget), activations with and without gradient
// checkpointing and with checkpoints offloaded to the host, workspace. Built from the same buffer plans the model allocates, so the
// estimate is the measured peak, not a rule of thumb. It reads only the model's layout (shapes and
// how each tensor is stored), so config.json alone gives the same estimate as the loaded weights.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "core/backend/usage.h"
#include "core/model/device_base_model.h"
#include "core/model/llama_model.h"
#include "core/model/lora_config.h"
#include "core/model/model_layout.h"
#include "core/train/paged_state.h"

namespace qls {

struct EstimateOptions {
    BaseWeightsOptions base;
    LoraConfig lora;
    std::int64_t micro_batch = 1;
    std::int64_t seq_len = 512;
    bool checkpointing = true;
    bool offload_checkpoints = false;  // checkpointed layer inputs in host memory (needs checkpointing)
    PagingConfig paging;  // the optimizer state's page size and device budget
    std::int64_t device_bytes = 0;             // device size or budget for the verdict; 0: none
};

struct MemoryEstimate {
    std::array<std::int64_t, kUsageCount> bytes{};  // by Usage (PagedHost: evicted state, offloaded inputs)
    std::int64_t activations_checkpointed = 0;      // activation bytes with checkpointing on
    std::int64_t activations_full = 0;              // ... and off
    std::int64_t activations_offloaded = 0;         // ... on, with the checkpoints offloaded
    std::int64_t offload_host = 0;                  // part of PagedHost: the offloaded checkpoints (when on)
    std::int64_t logits_workspace = 0;              // part of Workspace: the logits chunk
    std::int64_t device_total = 0;
    std::int64_t device_bytes = 0;
    bool fits = true;
    std::string verdict;  // one line: fits with headroom, or what to change

    std::int64_t of(Usage u) const { return bytes[static_cast<std::size_t>(u)]; }
};

// For the backend that would run it: the CPU backend's own scratch (a dense fp32 copy of the
// largest 16-bit weight it multiplies by, LoRA intermediates, and with a 16-bit compute dtype the
// fp32 copies of the largest op's activations, cpu_twin.h) is included, as the accountant sees
// it, and the backend's attention workspace.
MemoryEstimate estimate_memory(const ModelLayout& model, const EstimateOptions& options, const Backend& backend);
MemoryEstimate estimate_memory(const Model& model, const EstimateOptions& options, const Backend& backend);

}  // namespace qls
