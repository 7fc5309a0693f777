// What a run will do, known before it starts: how many optimizer steps it takes, and what about
// it a user wants to hear before committing the machine to it (a run that cannot learn, one with
// nothing to validate on), each with the fix. The studio asks before starting such a run; the
// CLI and the run's log print the same words.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/train/train_config.h"

namespace qls {

// max_steps, or ceil(epochs · batches_per_epoch / grad_accum), at least 1: what TrainingSession
// runs for.
std::int64_t planned_total_steps(const TrainConfig& c, std::int64_t batches_per_epoch);

struct RunWarning {
    std::string field;    // the run.json key to change ("optim.warmup_steps"), or the data's
    std::string message;  // what happens, then the fix
};

// `total_steps` from planned_total_steps; `valid_examples` of the prepared dataset. The config is
// valid (problems() is empty).
std::vector<RunWarning> run_warnings(const TrainConfig& c, std::int64_t total_steps, std::size_t valid_examples);

}  // namespace qls
