#include "core/model/lora_config.h"

#include <algorithm>
#include <cmath>

#include "core/util/error.h"

namespace qls {

LinearGroup linear_group(LoraTarget t) {
    switch (t) {
        case LoraTarget::Q:
        case LoraTarget::K:
        case LoraTarget::V: return LinearGroup::Qkv;
        case LoraTarget::O: return LinearGroup::O;
        case LoraTarget::Gate:
        case LoraTarget::Up: return LinearGroup::GateUp;
        case LoraTarget::Down: return LinearGroup::Down;
    }
    return LinearGroup::Down;
}

std::int64_t LoraConfig::group_rank(LinearGroup g) const {
    std::int64_t sum = 0;
    for (LoraTarget t : kAllLoraTargets)
        if (linear_group(t) == g && targets_module(t)) sum += rank;
    return sum;
}

std::string_view lora_target_name(LoraTarget t) {
    switch (t) {
        case LoraTarget::Q: return "q_proj";
        case LoraTarget::K: return "k_proj";
        case LoraTarget::V: return "v_proj";
        case LoraTarget::O: return "o_proj";
        case LoraTarget::Gate: return "gate_proj";
        case LoraTarget::Up: return "up_proj";
        case LoraTarget::Down: return "down_proj";
    }
    return "?";
}

LoraTarget parse_lora_target(std::string_view name) {
    for (LoraTarget t : kAllLoraTargets) {
        std::string_view full = lora_target_name(t);
        if (name == full || name == full.substr(0, full.find('_'))) return t;
    }
    throw ConfigError(str_cat("unknown LoRA target module '", name,
                              "': expected one of q,k,v,o,gate,up,down (or q_proj, ...)"));
}

std::string lora_module_name(std::int64_t layer, LoraTarget t) {
    bool attention = t == LoraTarget::Q || t == LoraTarget::K || t == LoraTarget::V ||
                     t == LoraTarget::O;
    return str_cat("model.layers.", layer, attention ? ".self_attn." : ".mlp.",
                   lora_target_name(t));
}

double LoraConfig::scaling() const {
    return rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
}

bool LoraConfig::targets_module(LoraTarget t) const {
    return std::find(targets.begin(), targets.end(), t) != targets.end();
}

ConfigProblems LoraConfig::problems() const {
    ConfigProblems p("lora.");
    p.require(rank >= 1 && rank <= 4096, "r", "must be a whole number from 1 to 4096; got ", rank);
    p.require(alpha > 0 && std::isfinite(alpha), "alpha", "must be greater than 0; ", given(alpha));
    p.require(dropout >= 0 && dropout < 1, "dropout", "must be at least 0 and below 1; ", given(dropout));
    p.require(!targets.empty(), "target_modules", "choose at least one module to adapt");
    for (std::size_t i = 0; i < targets.size(); ++i)
        for (std::size_t j = i + 1; j < targets.size(); ++j)
            p.require(targets[i] != targets[j], "target_modules", "'", lora_target_name(targets[i]),
                      "' is listed twice");
    return p;
}

void LoraConfig::validate() const { problems().throw_if_any(); }

}  // namespace qls
