// A LoRA adapter as a GGUF adapter llama.cpp loads with --lora (formats.md §9.4; llama.cpp
// convert_lora_to_gguf.py and src/llama-adapter.cpp): general.type "adapter", adapter.type
// "lora", adapter.lora.alpha, and per adapted weight "<gguf name>.lora_a" (ne [in, r]) and
// ".lora_b" (ne [r, out], rows permuted like the base's for llama Q/K).
#pragma once
#include <filesystem>
#include <string>

#include "core/io/ggml_type.h"
#include "core/model/llama_config.h"
#include "core/model/lora_config.h"

namespace qls {

struct GgufLoraOptions {
    GgmlType type = GgmlType::F32;  // F32, F16, BF16 or Q8_0 (rows of r < 32 fall back to F16)
    std::string name;               // general.name; "<base> LoRA" when empty
};

// llama.cpp scales by alpha / r and knows no rsLoRA, so an rsLoRA adapter (alpha / sqrt(r))
// is written with alpha · sqrt(r).
double gguf_lora_alpha(const LoraConfig& c);

// `base`: the config of the model the adapter was trained on (architecture, heads, head_dim).
// Writes atomically. Throws ConfigError for an unsupported type or architecture, or a module
// whose sizes do not match `base`.
void export_gguf_lora(const LoraAdapter& adapter, const LlamaConfig& base, const std::filesystem::path& path,
                      const GgufLoraOptions& options = {});

}  // namespace qls
