// Loads a Llama-family model from a GGUF file (formats.md §9.3): the config from the
// `<arch>.*` metadata, every weight dequantized to fp32 under its Hugging Face name and
// PyTorch shape, with llama.cpp's Q/K row permutation undone for arch "llama", and the
// tokenizer.ggml.* keys for the tokenizer.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "core/io/gguf_reader.h"
#include "core/model/llama_config.h"
#include "core/model/model_weights.h"
#include "core/tokenizer/gguf_tokenizer_data.h"

namespace qls {

struct GgufModel {
    LlamaConfig config;
    ModelWeights weights;  // F32 weights owned in memory (Weight::owned), with their gguf_type
    GgufTokenizerData tokenizer;
    std::string name;  // general.name, may be empty
    // rope_freqs.weight: llama3 RoPE divisors per frequency [head_dim / 2], empty when absent.
    // config.rope_scaling holds the llama3 parameters that reproduce them.
    std::vector<float> rope_freqs;
};

// Supports general.architecture "llama" (also Mistral converted to it) and "qwen2". Throws
// FormatError naming the file and the key or tensor; IoError when the file cannot be read.
GgufModel load_gguf_model(const std::filesystem::path& path);
GgufModel load_gguf_model(const GgufFile& file);

LlamaConfig read_gguf_llama_config(const GgufFile& file);
GgufTokenizerData read_gguf_tokenizer(const GgufFile& file);

// The block-quantized types (Q4_0, Q4_K, Q8_0, ...) the file stores its linear weights in, from
// the header alone: what a run with BaseWeightsOptions::gguf_blocks trains on (kept_gguf_blocks
// once loaded).
KeptGgufBlocks gguf_linear_blocks(const GgufFile& file);

// HF name for a GGUF tensor name (token_embd.weight -> model.embed_tokens.weight,
// blk.3.attn_q.bias -> model.layers.3.self_attn.q_proj.bias); empty when it has none.
std::string gguf_to_hf_tensor_name(std::string_view gguf_name);

}  // namespace qls
