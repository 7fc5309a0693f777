// LoRA hyperparameters and the adapter's trained tensors, in PEFT's terms (formats.md §5):
// y = base(x) + scaling · B(A(dropout(x))), A (r, in), B (out, r), both fp32.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/config_problems.h"
#include "core/util/tensor_view.h"

namespace qls {

// The seven linear layers of a Llama block, in the order the model applies them.
enum class LoraTarget : std::uint8_t { Q, K, V, O, Gate, Up, Down };
inline constexpr std::array<LoraTarget, 7> kAllLoraTargets = {
    LoraTarget::Q, LoraTarget::K, LoraTarget::V, LoraTarget::O,
    LoraTarget::Gate, LoraTarget::Up, LoraTarget::Down};

// The targets that read the same input (q|k|v, o, gate|up, down): the model stacks each group
// into one linear, and LoraParameters stacks the group's A matrices.
enum class LinearGroup : std::uint8_t { Qkv, O, GateUp, Down };
inline constexpr std::array<LinearGroup, 4> kLinearGroups = {LinearGroup::Qkv, LinearGroup::O,
                                                              LinearGroup::GateUp, LinearGroup::Down};
LinearGroup linear_group(LoraTarget t);

std::string_view lora_target_name(LoraTarget t);  // "q_proj", ..., "down_proj"
// "q_proj" or "q" -> Q; throws ConfigError naming the value otherwise.
LoraTarget parse_lora_target(std::string_view name);
// "model.layers.3.self_attn.q_proj" (the PEFT module name without "base_model.model.")
std::string lora_module_name(std::int64_t layer, LoraTarget t);

struct LoraConfig {
    std::int64_t rank = 16;
    double alpha = 32.0;
    double dropout = 0.05;
    bool rslora = false;
    std::vector<LoraTarget> targets{kAllLoraTargets.begin(), kAllLoraTargets.end()};
    std::uint64_t seed = 0;  // initialization and dropout masks

    // alpha / r, or alpha / sqrt(r) with rsLoRA (formats.md §5 "Math").
    double scaling() const;
    bool targets_module(LoraTarget t) const;
    // Σ rank over the group's adapted targets: the columns of its stacked x·Aᵀ.
    std::int64_t group_rank(LinearGroup g) const;
    // r outside 1..4096, alpha <= 0, dropout outside [0, 1), no target or a repeated one, under
    // "lora.<key>".
    ConfigProblems problems() const;
    void validate() const;  // ConfigError with every problem
};

// One adapted linear layer: in_features -> out_features.
struct LoraPair {
    std::int64_t in = 0, out = 0, rank = 0;
    std::vector<float> a;  // (rank, in)
    std::vector<float> b;  // (out, rank)
};

// Host-side copy of an adapter: what checkpoints, exports and the PEFT loader exchange.
struct LoraAdapter {
    LoraConfig config;
    std::string base_model;  // a Hub ID or a local path (core/export/base_model_id.h)
    std::map<std::string, LoraPair> modules;  // key: lora_module_name(layer, target)
};

}  // namespace qls
