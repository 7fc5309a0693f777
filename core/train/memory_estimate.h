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
    // Rows of the MLP's intermediates at once (ModelRunOptions::mlp_chunk): 0 all N, > 0 that
    // many, kMlpChunkAuto: all N when that fits device_bytes (or there is none), else the largest
    // power of two from kMinMlpChunk up that fits (kMinMlpChunk when none does). Chunks cost no
    // arithmetic, only smaller GEMMs, so the estimate picks them before anything that costs time.
    std::int64_t mlp_chunk = kMlpChunkAuto;

    static constexpr std::int64_t kMlpChunkAuto = -1;
    // Below this many rows a chunk's GEMMs get too small to keep a GPU busy.
    static constexpr std::int64_t kMinMlpChunk = 256;
};

struct MemoryEstimate {
    std::array<std::int64_t, kUsageCount> bytes{};  // by Usage (PagedHost: evicted state, offloaded inputs)
    std::int64_t activations_checkpointed = 0;      // activation bytes with checkpointing on
    std::int64_t activations_full = 0;              // ... and off
    std::int64_t activations_offloaded = 0;         // ... on, with the checkpoints offloaded
    std::int64_t offload_host = 0;                  // part of PagedHost: the offloaded checkpoints (when on)
    std::int64_t logits_workspace = 0;              // part of Workspace: the logits chunk
    std::int64_t mlp_chunk = 0;                     // rows of each MLP chunk (N: the whole batch at once)
    std::int64_t device_total = 0;
    std::int64_t device_bytes = 0;
    bool fits = true;
    std::string verdict;  // one line: fits with headroom, or what to change

    std::int64_t of(Usage u) const { return bytes[static_cast<std::size_t>(u)]; }
};

// For the backend that would run it: its attention workspace and its ops' own scratch
// (Backend::op_scratch_bytes: the CPU's fp32 copies, CUDA's cuBLAS and linear workspaces) are
// included, as the accountant sees them.
MemoryEstimate estimate_memory(const ModelLayout& model, const EstimateOptions& options, const MemoryPlanner& planner);
MemoryEstimate estimate_memory(const Model& model, const EstimateOptions& options, const MemoryPlanner& planner);

}  // namespace qls
