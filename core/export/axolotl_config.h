// A training run's settings as an axolotl config (axolotl-ai-cloud/axolotl,
// src/axolotl/utils/schemas/): the same base, 4-bit quantization, LoRA, sequence length,
// packing, batch, schedule, optimizer, precision and seed, so a run that outgrew one machine
// continues on several GPUs with DeepSpeed or FSDP. Whatever axolotl cannot express is listed
// as a difference, never dropped silently.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/train/train_config.h"

namespace qls {

// The dataset files the config points at (relative to the folder the config is launched from).
struct AxolotlDataFiles {
    std::string train = "train.jsonl";
    std::string valid;  // empty: the run had no validation examples
};

struct AxolotlConfig {
    nlohmann::ordered_json config;         // axolotl's keys, in config.qmd's order
    std::vector<std::string> differences;  // sentences: what the config cannot reproduce exactly
};

// `base_model` is what axolotl loads (base_model_id: a Hub ID or an absolute path).
AxolotlConfig axolotl_config(const TrainConfig& run, const std::string& base_model,
                             const AxolotlDataFiles& files);

}  // namespace qls
