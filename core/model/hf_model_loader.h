// Loads a Hugging Face Llama-family model folder: config.json plus model.safetensors or a
// sharded index (formats.md §6), dense or pre-quantized with bitsandbytes 4-bit (§3).
#pragma once
#include <filesystem>

#include "core/model/llama_config.h"
#include "core/model/model_weights.h"

namespace qls {

struct LoadedModel {
    std::filesystem::path path;
    LlamaConfig config;
    ModelWeights weights;  // dense views into the mapped files; 4-bit weights in Weight::quantized
};

// A checkpoint is pre-quantized when config.json has a quantization_config or a tensor has a
// bitsandbytes quant_state. Errors name the folder, file and tensor, prefixed with
// "while loading <folder>".
LoadedModel load_hf_model(const std::filesystem::path& folder);

}  // namespace qls
