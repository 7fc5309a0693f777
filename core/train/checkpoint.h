// A training checkpoint: checkpoints/step-N/ holding the adapter (a PEFT folder), the
// optimizer state (optimizer.safetensors), trainer_state.json (step, data position, early
// stopping, counters) and checksums.json (size and FNV-1a of each, verified on load). Written into a temporary folder renamed into place, so a folder named
// step-N is always complete; a process killed mid-save leaves the previous checkpoints intact.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "core/data/batch_sampler.h"
#include "core/io/named_tensor.h"
#include "core/model/lora_config.h"
#include "core/train/loss_scaler.h"

namespace qls {

struct TrainerProgress {
    std::int64_t step = 0;  // optimizer steps done
    SamplerPosition data;
    std::optional<double> best_valid_loss;
    std::int64_t best_step = 0;
    std::int64_t evals_without_improvement = 0;
    double elapsed_s = 0;
    std::int64_t tokens_seen = 0;
    double last_train_loss = 0;
    LossScaleState loss_scale;  // fp16's dynamic loss scale (scale 1 otherwise)

    nlohmann::json to_json() const;
    static TrainerProgress from_json(const nlohmann::json& j);  // FormatError when malformed
};

struct Checkpoint {
    LoraAdapter adapter;
    std::vector<OwnedTensor> optimizer;
    TrainerProgress progress;
};

std::filesystem::path checkpoint_dir(const std::filesystem::path& run_dir, std::int64_t step);
void save_checkpoint(const std::filesystem::path& dir, const Checkpoint& c);
// Throws FormatError naming the file when a piece is missing, malformed or fails its checksum.
Checkpoint load_checkpoint(const std::filesystem::path& dir);
// Complete checkpoints of a run, by step ascending (leftover temporary folders are ignored).
std::vector<std::int64_t> list_checkpoints(const std::filesystem::path& run_dir);

}  // namespace qls
