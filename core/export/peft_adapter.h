// A PEFT LoRA adapter folder as peft 0.21 saves it (formats.md §5): adapter_config.json (every
// key peft writes, sorted), adapter_model.safetensors (F32 lora_A / lora_B under
// "base_model.model.<module>", {"format": "pt"}) and a README.md model card. The folder loads
// with PeftModel.from_pretrained(base, folder) and converts with llama.cpp's
// convert_lora_to_gguf.py.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/model/lora_config.h"

namespace qls {

// adapter_model.safetensors keys: kPrefix + module + kSuffixA / kSuffixB.
namespace peft_keys {
inline constexpr std::string_view kPrefix = "base_model.model.";
inline constexpr std::string_view kSuffixA = ".lora_A.weight";
inline constexpr std::string_view kSuffixB = ".lora_B.weight";
}  // namespace peft_keys

// What the model card says about the run. Empty / unset fields are left out of the card.
struct ModelCard {
    std::string dataset;  // a dataset name, e.g. "oasst1" or "demo/chat.jsonl"
    std::int64_t steps = 0;
    std::optional<double> train_loss;  // final values
    std::optional<double> valid_loss;
    double learning_rate = 0.0;
    std::int64_t batch_size = 0;  // effective: micro-batch x accumulation
    std::int64_t seq_len = 0;
    std::string quantization;  // e.g. "nf4, blocksize 64, double quant"
    std::string date;          // ISO date; today's (UTC) when empty
};

// adapter_config.json text for `adapter` (keys sorted, 2-space indent, no final newline, as
// peft's json.dumps writes it). base_model_name_or_path is `adapter.base_model` as recorded
// (base_model_id: a Hub ID or an absolute path), null when empty.
std::string peft_adapter_config_json(const LoraAdapter& adapter);

// The model card text (YAML front matter as peft writes it, then a short description).
std::string peft_model_card(const LoraAdapter& adapter, const ModelCard& card);

// Writes the three files into `dir` atomically (a temporary sibling folder renamed into place,
// replacing an existing folder). Throws ConfigError for an invalid adapter (a module whose
// tensors do not match its sizes, no module at all), IoError when writing fails.
void write_peft_adapter(const LoraAdapter& adapter, const std::filesystem::path& dir, const ModelCard& card);

// Reads a PEFT LoRA folder: rank, alpha, rsLoRA, dropout and targets from adapter_config.json,
// the pairs from adapter_model.safetensors (F32, BF16 or F16; kept as fp32). Throws FormatError
// naming the file and key for a missing file or key, a lora_A without its lora_B, mismatched
// shapes, a module we cannot adapt; and for adapters we cannot represent (peft_type other than
// LORA, use_dora, bias other than "none", rank_pattern / alpha_pattern, modules_to_save).
LoraAdapter read_peft_adapter(const std::filesystem::path& dir);

}  // namespace qls
