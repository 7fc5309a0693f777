// llama.cpp's per-tensor type choice for its K-quant "mostly" file types (src/llama-quant.cpp,
// llama_tensor_get_type without an importance matrix or overrides), for the llama and qwen2
// layouts the merged GGUF export writes (formats.md §9.5).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/io/ggml_type.h"

namespace qls {

enum class GgufQuantMix { Q4_K_M, Q5_K_M, Q6_K };

// What the rules look at besides the tensor itself.
struct GgufMixModel {
    std::string arch;  // "llama" or "qwen2"
    int n_layer = 0;
    int n_head = 0;
    int n_head_kv = 0;
    bool has_output = false;  // an output.weight of its own (otherwise token_embd is tied to it)
};

// The ggml type llama-quantize gives tensor `name` (GGUF naming, ne in ggml order: ne[0] is
// the row length): F32 for 1-D tensors, the mix's choice otherwise, with its fallback when
// ne[0] is not a multiple of the chosen type's block size.
GgmlType gguf_mix_tensor_type(GgufQuantMix mix, const GgufMixModel& model, std::string_view name,
                              std::span<const std::int64_t> ne);

// general.file_type (llama_ftype): 15 Q4_K_M, 17 Q5_K_M, 18 Q6_K.
std::uint32_t gguf_mix_file_type(GgufQuantMix mix);

// "Q4_K_M", "Q5_K_M", "Q6_K".
std::string_view gguf_mix_name(GgufQuantMix mix);

}  // namespace qls
