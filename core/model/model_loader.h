// One entry point for every kind of base model a user opens: a Hugging Face folder (dense or
// pre-quantized bitsandbytes 4-bit, single file or sharded) or a GGUF file.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "core/model/llama_config.h"
#include "core/model/model_weights.h"
#include "core/tokenizer/gguf_tokenizer_data.h"

namespace qls {

class Tokenizer;

struct Model {
    std::filesystem::path path;
    std::string name;  // folder or file name, or GGUF general.name
    LlamaConfig config;
    ModelWeights weights;
    std::optional<GgufTokenizerData> gguf_tokenizer;  // GGUF files carry their tokenizer
};

std::string_view model_format_name(ModelFormat f);  // "safetensors", "bitsandbytes 4-bit", "GGUF"

// A folder (config.json + safetensors) or a .gguf file. Throws FormatError / IoError / ConfigError
// naming the path and what is wrong.
Model load_model(const std::filesystem::path& path);

// The model's own tokenizer: tokenizer.json (+ tokenizer_config.json) from its folder, or the
// GGUF metadata.
Tokenizer load_model_tokenizer(const Model& model);

// The tokenizer alone, without loading weights: a tokenizer.json, a model folder or a .gguf file.
Tokenizer load_tokenizer_from(const std::filesystem::path& path);

}  // namespace qls
