// Every setting of a training run, as run.json stores it: the run can be repeated or resumed
// from that file alone. Defaults follow QLoRA (formats.md §10) where it has one, scaled for the
// short runs a desktop user starts with.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/data/dataset.h"
#include "core/model/device_base_model.h"
#include "core/model/lora_config.h"
#include "core/train/adamw_optimizer.h"
#include "core/train/lr_schedule.h"

namespace qls {

struct OptimConfig {
    AdamWConfig adamw;
    LrScheduleConfig schedule{LrScheduleType::Constant, 0, 0.03};
    PagingConfig paging;  // device_budget_bytes 0: all optimizer state stays on the device
};

struct TrainConfig {
    std::filesystem::path model;   // HF folder, bnb folder or .gguf
    std::filesystem::path run_dir;
    BaseWeightsOptions base;
    LoraConfig lora;
    DatasetOptions data;
    OptimConfig optim;
    std::int64_t micro_batch = 4;
    std::int64_t grad_accum = 1;
    double epochs = 1.0;
    std::int64_t max_steps = 0;    // optimizer steps; 0: from epochs
    std::int64_t eval_every = 50;  // steps; 0: only at the end
    std::int64_t save_every = 100; // steps; 0: only at the end
    std::int64_t keep_checkpoints = 2;
    std::int64_t early_stop_patience = 0;  // evaluations without improvement; 0: off
    double early_stop_min_delta = 0.0;
    bool checkpointing = true;
    // Checkpointed layer inputs in host memory between forward and backward (llama_model.h):
    // off | on | auto (on when the run's estimate does not fit device_limit_bytes without it).
    // A run.json without the key is "off", so runs from before it resume as they ran.
    std::string offload_checkpoints = "auto";
    std::uint64_t seed = 0;
    std::string device = "auto";          // auto | cpu | cuda | cuda:N (backend_registry.h)
    std::string compute_dtype = "auto";   // auto | fp32 | bf16 | fp16 (backend.h "Precision")
    double initial_loss_scale = 65536;    // fp16's dynamic loss scale at the start (loss_scaler.h)
    std::int64_t device_limit_bytes = 0;  // simulated device size on the CPU backend; 0: none

    // Everything impossible, each under its run.json key in the user's words.
    ConfigProblems problems() const;
    void validate() const;  // ConfigError naming every problem
};

nlohmann::json to_json(const TrainConfig& c);
// Missing fields keep their defaults; unknown or malformed ones are a ConfigError naming them.
TrainConfig train_config_from_json(const nlohmann::json& j);

// What a resumed run changes from its stored config, as {"optim.learning_rate": {"from": x,
// "to": y}, ...} in to_json's dotted field names. A continuation may change only what leaves the
// checkpoint's meaning intact: the learning rate, its schedule and gradient clipping, the length (max_steps,
// epochs), evaluation, checkpoint and early-stopping cadence, the memory budgets and checkpoint
// offloading (bit-identical results either way), and where the
// model is (the run checks it is the same model). Anything else is a ConfigError naming it.
nlohmann::json resume_changes(const TrainConfig& stored, const TrainConfig& edited);

}  // namespace qls
