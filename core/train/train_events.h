// What the trainer reports, as plain values: the UI and the CLI drain them from the
// EventChannel and never touch the trainer's tensors.
#pragma once
#include <cstdint>
#include <string>
#include <variant>

#include "core/backend/memory_accountant.h"

namespace qls {

enum class TrainerState : std::uint8_t {
    Idle, Loading, Training, Paused, Evaluating, Saving, Finished, Stopped, Cancelled, Failed
};
std::string_view trainer_state_name(TrainerState s);

struct StepMetrics {
    std::int64_t step = 0, total_steps = 0;  // optimizer steps, 1-based
    double epoch = 0;                        // fractional epochs done
    double loss = 0;                         // mean over the step's trained tokens
    double lr = 0;
    double grad_norm = 0;                    // before clipping
    std::int64_t tokens = 0;                 // tokens processed in the step (incl. masked)
    std::int64_t trained_tokens = 0;
    double tokens_per_s = 0;
    double elapsed_s = 0, eta_s = 0;
    std::int64_t host_syncs = 0;             // device→host reads and waits the step needed
    double loss_scale = 1;                   // fp16's dynamic loss scale the step ran with
    bool skipped = false;                    // fp16 gradients overflowed: no update, scale backed off
};

struct EvalResult {
    std::int64_t step = 0;
    double loss = 0, perplexity = 0;
    std::int64_t tokens = 0;
    bool best = false;  // the best so far (its checkpoint is kept)
};

struct MemorySample {
    double time_s = 0;
    std::int64_t step = 0;
    MemorySnapshot memory;
    std::int64_t device_limit = 0;  // budget or device size; 0 when unknown
    // What the device itself counts as taken (Backend::device_bytes_in_use): on a GPU its total
    // less its free memory, nvidia-smi's figure (the CUDA context, cuBLAS, allocator slack and
    // other processes too); on the CPU this process's resident set. 0 when unknown.
    std::int64_t device_in_use = 0;
};

struct PagingEvent {
    enum class Direction : std::uint8_t { ToDevice, ToHost };
    double time_s = 0;
    std::int64_t step = 0;
    Direction direction = Direction::ToDevice;
    std::int64_t bytes = 0, pages = 0;  // pages: optimizer state pages moved (0 for a layer input)
    std::string reason;
    std::int64_t layer = -1;  // an offloaded checkpoint: the layer whose input moved; -1: optimizer pages
};

struct LogLine {
    enum class Level : std::uint8_t { Info, Warning, Error };
    Level level = Level::Info;
    std::string text;
};

struct StateChange {
    TrainerState state = TrainerState::Idle;
    std::string message;
};

// The backend a run got from the registry (core/backend/backend_registry.h), once per session.
struct RunDevice {
    std::string backend;        // "cpu" or "cuda"
    std::string device;         // "CPU (2 threads)", "NVIDIA H200 (cuda:0)"
    std::string compute_dtype;  // what activations are computed in: "fp32", "bf16", "fp16"
    std::int64_t threads = 0;
    std::string reason;         // "asked for", or why auto chose it
};

// How far loading the base onto the device has come: a run of a 7B model spends a minute here
// before its first step. Shown live, never written to the run's log.
struct LoadProgress {
    std::int64_t layers_done = 0, layers = 0;
};

struct ErrorInfo {
    std::string what;    // what happened, with the file / field / step
    std::string advice;  // what to change
    bool resumable = false;
};

using TrainEvent = std::variant<StepMetrics, EvalResult, MemorySample, PagingEvent, LogLine, StateChange,
                                RunDevice, ErrorInfo, LoadProgress>;

}  // namespace qls
