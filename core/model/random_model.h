// A Llama of a named or given shape with random weights, for benchmarks that must not download
// anything (qlora bench train): linear weights and embeddings ~ U(-a, a) with the standard
// deviation of transformers' initializer_range (0.02), norms 1, biases 0, stored in `dtype`
// (bf16 as a real checkpoint would be). Deterministic in `seed`, filled on all threads.
#pragma once
#include <cstdint>
#include <string_view>

#include "core/model/model_loader.h"

namespace qls {

// "llama-1b" (TinyLlama-1.1B's shape), "llama-7b" (Llama-2-7B's), "smollm2-135m"; ConfigError
// naming the shapes otherwise.
LlamaConfig benchmark_shape(std::string_view name);

Model random_model(const LlamaConfig& config, DType dtype, std::uint64_t seed);

}  // namespace qls
