// Bytes the base model's weights take under each storage scheme, from the config alone, so
// "will it fit?" is answered before anything is loaded. Linear weights (q/k/v/o/gate/up/down)
// take the scheme; embeddings, norms and an untied lm_head stay in the 16-bit compute dtype,
// as bitsandbytes + transformers keep them (formats.md §3).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/model/llama_config.h"
#include "core/quant/quant_storage.h"  // quantized_tensor_bytes, the per-tensor layout

namespace qls {

enum class WeightScheme : std::uint8_t { Bf16, Nf4, Nf4DoubleQuant, Fp4 };

std::string_view weight_scheme_name(WeightScheme s);  // "bf16", "nf4", "nf4+dq", "fp4"

struct WeightMemory {
    WeightScheme scheme = WeightScheme::Bf16;
    std::uint64_t linear_bytes = 0;        // q/k/v/o/gate/up/down incl. absmax, nested and code tables
    std::uint64_t linear_table_bytes = 0;  // the code tables' share of linear_bytes
    std::uint64_t other_bytes = 0;         // embeddings, norms, lm_head (16-bit)
    std::int64_t linear_params = 0;
    std::int64_t other_params = 0;

    std::uint64_t total_bytes() const { return linear_bytes + other_bytes; }
    // quant_bits_per_param's definition over all linear weights (16 for bf16).
    double linear_bits_per_param() const {
        return linear_params ? 8.0 * double(linear_bytes - linear_table_bytes) / double(linear_params) : 0.0;
    }
};

WeightMemory weight_memory(const LlamaConfig& config, WeightScheme scheme, int blocksize = 64);
std::vector<WeightMemory> weight_memory_all(const LlamaConfig& config, int blocksize = 64);

}  // namespace qls
