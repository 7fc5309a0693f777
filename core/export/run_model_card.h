// The model card of an adapter exported from a training run (its final adapter/ or one of its
// checkpoints/step-N/): the run's settings from run.json and its losses from metrics.jsonl, the
// same figures the run's own adapter README states, so an export never says "n/a" for a loss
// the run measured.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>

#include "core/export/peft_adapter.h"
#include "core/train/train_config.h"

namespace qls {

// Where an adapter folder comes from in a run.
struct RunAdapter {
    std::filesystem::path run_dir;
    std::optional<std::int64_t> step;  // a checkpoint's step; nullopt: the run's final adapter
};

// `source` as a user names it: RUN, RUN/adapter, RUN/checkpoints/step-N or
// RUN/checkpoints/step-N/adapter (RUN holding run.json); nullopt for any other folder.
std::optional<RunAdapter> run_adapter_of(const std::filesystem::path& source);

// Dataset, learning rate, batch, sequence length and quantization from `run`; from the run's
// metrics.jsonl up to `at.step` (all of it for the final adapter): the steps, the last training
// loss and the best validation loss, as the trainer writes them into the run's adapter README.
// Throws IoError/FormatError naming metrics.jsonl when it is unreadable or malformed.
ModelCard run_model_card(const TrainConfig& run, const RunAdapter& at);

}  // namespace qls
