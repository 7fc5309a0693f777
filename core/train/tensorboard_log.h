// The run's metrics as TensorBoard scalars in <run>/tensorboard/, so `tensorboard --logdir`
// on a run (or on a folder of runs) plots it, live while it trains. Each training session
// (the first, each resume) writes its own event file. A resume rewinds to its checkpoint and
// trains the steps after it again; metrics.jsonl is cut back to the checkpoint, but the
// earlier session's event file keeps its steps, so TensorBoard shows both (it draws steps in
// the order they come).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/train/tensorboard_writer.h"
#include "core/train/train_events.h"

namespace qls {

struct TensorBoardScalar {
    std::string tag;  // "train/loss", "eval/perplexity", "memory_MiB/activations"
    std::int64_t step = 0;
    double value = 0;
};

// What a step, an evaluation or a memory sample plots; nothing for the other events.
std::vector<TensorBoardScalar> tensorboard_scalars(const TrainEvent& e);

class TensorBoardLog {
public:
    explicit TensorBoardLog(std::filesystem::path run_dir,
                            std::chrono::milliseconds retry_for = std::chrono::seconds(30));

    // Writes the event's scalars, opening this session's file at the first one. The event file
    // is a second view of metrics.jsonl, so its failure (after append_log.h's retries) never
    // ends the run: the log stops writing and returns why, once, for the run's log.
    std::optional<std::string> add(const TrainEvent& e);

private:
    std::filesystem::path m_dir;
    std::chrono::milliseconds m_retry_for;
    std::optional<TensorBoardWriter> m_writer;
    bool m_failed = false;
};

}  // namespace qls
