// The training benchmark behind `qlora bench train`, on whatever backend it is given: a random
// Llama of a named shape (no download) written as a bf16 Hugging Face checkpoint, then loaded and
// quantized from that folder as a user's model is (timed), then whole QLoRA steps in the
// configuration of ../shared/bench/peer_qlora.py: NF4 + double quant, LoRA r 16 / alpha 32 /
// dropout 0 on q,k,v,o,gate,up,down, gradient checkpointing, AdamW lr 2e-4 clipped at 0.3.
// The first step's loss is validated before anything is timed; afterwards the backend's dense
// GEMM rate is measured in the same process, the ceiling for the useful-FLOP utilisation.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend/backend.h"
#include "core/train/gemm_rate.h"
#include "core/train/memory_estimate.h"
#include "core/train/step_flops.h"

namespace qls {

struct TrainBenchOptions {
    std::string shape = "llama-1b";  // random_model.h benchmark_shape
    std::int64_t micro_batch = 2;
    std::int64_t seq_len = 2048;
    std::int64_t warmup = 3;
    std::int64_t steps = 10;
    DType compute = DType::F32;
    // Where the bf16 checkpoint is written (a fresh folder inside it, removed afterwards); empty:
    // /dev/shm when it has room, as the peer does, else the system's temp folder.
    std::filesystem::path scratch_dir;
    int gemm_reps = 10;
};

struct TrainBenchReport {
    TrainBenchOptions options;
    std::string backend;               // Backend::name()
    std::int64_t tokens_per_step = 0;  // B·T
    std::vector<double> step_s;        // the timed steps
    double median_step_s = 0;
    double tokens_per_s = 0;
    double first_loss = 0;              // validated: finite and about ln V
    std::int64_t checkpoint_bytes = 0;  // the bf16 model.safetensors
    double write_checkpoint_s = 0;
    double load_and_quantize_s = 0;  // load_model + DeviceBaseModel from the page cache
    MemorySnapshot memory;           // the accountant after the timed steps (peaks by Usage)
    MemoryEstimate estimate;         // memory_estimate.h for the same run, before it
    // Backend::device_bytes_in_use: the largest value seen after loading and after each step,
    // when all of that step's buffers are still held (they are allocated once, before step 1).
    std::optional<std::int64_t> device_in_use_peak;
    GemmRate gemm;
    StepFlops flops;
    double useful_utilisation = 0;    // flops.useful / median step / GEMM rate
    double hardware_utilisation = 0;  // flops.hardware / median step / GEMM rate
};

// Runs the benchmark; `log` hears progress lines. Throws ConfigError for an unknown shape or a
// bad option, InternalError when the first step's loss is not what random weights give.
TrainBenchReport run_train_bench(Backend& backend, const TrainBenchOptions& options,
                                 const std::function<void(std::string_view)>& log = {});

}  // namespace qls
