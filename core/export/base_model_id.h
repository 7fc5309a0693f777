// What an adapter records as its base (adapter_config.json's base_model_name_or_path, the model
// card's base_model), so that AutoPeftModelForCausalLM.from_pretrained(adapter) finds it: a
// Hugging Face Hub ID when the base is known to come from the Hub, else the absolute local path
// (peft passes either to from_pretrained). A folder's last name alone ("model") or a GGUF's
// general.name ("Smollm2 135M 8k Lc100K Mix1 Ep2") sends peft to a Hub repo that does not exist.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace qls {

// The Hub ID of the model at `model_path` (a model folder or a .gguf file), else its absolute
// path. A folder: ORG/NAME from a Hugging Face cache path (.../models--ORG--NAME/snapshots/REV),
// else config.json's _name_or_path when it is a Hub ID. A GGUF: the Hub repo its
// general.source.* metadata names (general.base_model.N.* names the model it was finetuned
// from, not this one, so it is not used).
std::string base_model_id(const std::filesystem::path& model_path);

// "org/name" as the Hub spells repo IDs (letters, digits, '-', '_', '.'; no "--" or ".."). A
// bare "name" is a valid ID too but cannot be told from a folder name, so it is not accepted.
bool is_hub_id(std::string_view s);

// The Hub ID in a https://huggingface.co/ORG/NAME[/...] URL; "" for other URLs.
std::string hub_id_from_url(std::string_view url);

}  // namespace qls
