// A merged model folder as transformers' save_pretrained writes it after peft's
// merge_and_unload (formats.md §6): bf16 weights W + scaling·B·A in model.safetensors, or in
// model-0000i-of-0000K.safetensors shards with model.safetensors.index.json when larger than
// the shard limit; config.json with dtype bfloat16 and without quantization_config; the
// tokenizer and generation files copied. Loads in transformers, vLLM or llama.cpp's converter.
#pragma once
#include <cstdint>
#include <filesystem>

#include "core/export/merged_weights.h"
#include "core/util/progress.h"

namespace qls {

struct MergedExportOptions {
    MergeBase base;
    // Largest shard in bytes of tensor data (transformers' max_shard_size, decimal units).
    std::uint64_t max_shard_bytes = 5'000'000'000;
};

struct MergedExportSummary {
    std::size_t shards = 0;
    std::size_t merged = 0;         // linears with a LoRA delta added
    std::uint64_t total_bytes = 0;  // tensor data written
};

// `model` must come from a Hugging Face folder (its config.json is the template). Writes `dir`
// atomically. Throws ConfigError when the adapter does not fit the model or the model has no
// config.json (a GGUF file), IoError when writing fails; progress counts tensors.
MergedExportSummary export_merged_model(const Model& model, const LoraAdapter& adapter,
                                        const std::filesystem::path& dir,
                                        const MergedExportOptions& options = {},
                                        const ProgressFn& progress = {});

// The files besides the weights and config.json that travel with a model folder.
inline constexpr const char* kTokenizerFiles[] = {"tokenizer.json",         "tokenizer_config.json",
                                                  "generation_config.json", "special_tokens_map.json",
                                                  "chat_template.jinja",    "tokenizer.model"};

// The folder a model was loaded from (the path itself, or its parent for a file).
std::filesystem::path model_folder(const Model& model);

}  // namespace qls
