// A Llama of a named or given shape with random weights, for benchmarks that must not download
// anything (qlora bench train): linear weights and embeddings ~ U(-a, a) with the standard
// deviation of transformers' initializer_range (0.02), norms 1, biases 0, stored in `dtype`
// (bf16 as a real checkpoint would be). Deterministic in `seed`, filled on all threads.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "core/model/model_loader.h"

namespace qls {

// "llama-1b" (TinyLlama-1.1B's shape), "llama-7b" (Llama-2-7B's), "smollm2-135m", or "tiny" (a
// small GQA Llama whose whole benchmark runs in seconds on two CPU cores, for tests); ConfigError
// naming the shapes otherwise.
LlamaConfig benchmark_shape(std::string_view name);

Model random_model(const LlamaConfig& config, DType dtype, std::uint64_t seed);

// Writes `model` (a random_model: default RoPE, no biases) as a Hugging Face folder a user could
// open: config.json and one model.safetensors. Returns the bytes of the safetensors file.
std::int64_t write_model_folder(const Model& model, const std::filesystem::path& dir);

}  // namespace qls
