// A base model, optionally merged with a LoRA adapter, as one GGUF file llama.cpp and Ollama
// load (formats.md §9.3): arch "llama" (Llama, Mistral, SmolLM2; Q/K rows permuted for NORM
// RoPE, llama3 RoPE as rope_freqs.weight) or "qwen2" (q/k/v biases, no permutation), the
// tokenizer as tokenizer.ggml.* metadata, plus an Ollama <name>.Modelfile beside it.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "core/export/gguf_quant_mix.h"
#include "core/export/merged_weights.h"
#include "core/io/ggml_type.h"
#include "core/tokenizer/gguf_tokenizer_data.h"
#include "core/util/progress.h"

namespace qls {

class GgufWriter;

struct GgufExportOptions {
    GgmlType type = GgmlType::F16;  // 2-D weights: F32, F16, BF16 or Q8_0 (1-D tensors stay F32)
    // llama-quantize's per-tensor choice for Q4_K_M / Q5_K_M / Q6_K instead of `type` for all.
    std::optional<GgufQuantMix> mix;
    MergeBase base;
    std::string name;             // general.name; the model's name when empty
    bool write_modelfile = true;  // "<name>.Modelfile" beside "<name>.gguf"
};

// HF tensor name -> GGUF name (model.layers.3.self_attn.q_proj.weight -> blk.3.attn_q.weight);
// empty for names GGUF has no place for.
std::string hf_to_gguf_tensor_name(std::string_view hf_name);

// HF [out, in] row order -> llama.cpp's: within each head, rows (j, j + hd/2) become (2j, 2j+1).
std::vector<float> permute_qk_rows(const std::vector<float>& rows, std::int64_t n_head,
                                   std::int64_t head_dim);

// The per-frequency divisors llama.cpp's converter writes as rope_freqs.weight for llama3 RoPE,
// computed in fp32 as torch does there.
std::vector<float> llama3_rope_freqs(const LlamaConfig& c);

// The GGUF architecture name: "llama" or "qwen2". ConfigError for other model types.
std::string gguf_architecture(const LlamaConfig& c);

// Writes `path` atomically (and the Modelfile). `adapter` may be null (plain conversion). The
// tokenizer comes from the model folder's tokenizer.json, or the GGUF the model was read from.
// Throws ConfigError for an unsupported type or architecture or an adapter that does not fit.
void export_gguf_model(const Model& model, const LoraAdapter* adapter, const std::filesystem::path& path,
                       const GgufExportOptions& options = {}, const ProgressFn& progress = {});

// The `<arch>.*` hyperparameter keys of §9.3 (shared with the LoRA adapter export).
void add_gguf_llama_metadata(GgufWriter& w, const LlamaConfig& c);

}  // namespace qls
