// The Llama-family architecture settings read from a Hugging Face config.json or GGUF
// metadata (formats.md §6.1, §9.3): Llama 2/3/3.x, Mistral, Qwen2, SmolLM2, TinyLlama.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/quant/quantized_tensor.h"

namespace qls {

enum class RopeType : std::uint8_t { Default, Linear, Llama3 };

struct RopeScaling {
    RopeType type = RopeType::Default;
    double factor = 1.0;
    double low_freq_factor = 1.0;            // llama3 only
    double high_freq_factor = 4.0;           // llama3 only
    std::int64_t original_max_position = 0;  // llama3 only
};

// config.json "quantization_config" of a pre-quantized bitsandbytes 4-bit checkpoint.
struct BnbQuantConfig {
    QuantType quant_type = QuantType::NF4;
    bool double_quant = false;
    std::string compute_dtype = "float32";
    std::string quant_storage = "uint8";
};

struct LlamaConfig {
    std::string model_type;    // "llama", "mistral", "qwen2"
    std::string architecture;  // "LlamaForCausalLM", ...
    std::int64_t hidden_size = 0;
    std::int64_t intermediate_size = 0;
    std::int64_t num_layers = 0;
    std::int64_t num_heads = 0;
    std::int64_t num_kv_heads = 0;
    std::int64_t head_dim = 0;
    std::int64_t vocab_size = 0;
    std::int64_t max_position_embeddings = 0;
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    RopeScaling rope_scaling;
    bool tie_word_embeddings = false;
    bool qkv_bias = false;  // Qwen2: q/k/v projections carry a bias
    std::vector<std::int64_t> bos_token_ids;
    std::vector<std::int64_t> eos_token_ids;
    std::optional<std::int64_t> pad_token_id;
    std::string dtype = "float32";  // "torch_dtype" (v4) or "dtype" (v5)
    std::int64_t sliding_window = 0;  // 0: none
    std::optional<BnbQuantConfig> quantization;
};

// Read a Hugging Face config.json (transformers 4.x and 5.x spellings, formats.md §6.1).
// Throws FormatError naming `source` and the field for anything malformed or unsupported
// (other architectures, rope types, activations, biases, 8-bit or non-bitsandbytes quantization).
LlamaConfig parse_llama_config(const nlohmann::json& j, std::string_view source);
LlamaConfig load_llama_config(const std::filesystem::path& path);

// Parameters of the dense model (embeddings, lm_head when untied, norms, biases).
std::int64_t parameter_count(const LlamaConfig& c);

}  // namespace qls
