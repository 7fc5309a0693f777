// The subset of llama.cpp's llama_tensor_get_type_impl and tensor_type_fallback that applies to
// LLAMA_FTYPE_MOSTLY_Q4_K_M / Q5_K_M / Q6_K on a dense llama or qwen2 model without imatrix,
// --pure or per-tensor overrides.
#include "core/export/gguf_quant_mix.h"

#include <cstdio>

#include "core/util/error.h"

namespace qls {

namespace {

GgmlType base_type(GgufQuantMix mix) {
    switch (mix) {
        case GgufQuantMix::Q4_K_M: return GgmlType::Q4_K;
        case GgufQuantMix::Q5_K_M: return GgmlType::Q5_K;
        case GgufQuantMix::Q6_K: return GgmlType::Q6_K;
    }
    QLS_ASSERT(false, "unknown quant mix");
    return GgmlType::F16;
}

// The first and last eighth of the layers, and every third one in between, get more bits.
bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// llama.cpp counts attn_v and ffn_down tensors in the order it visits them, which is by layer
// (its tensor map sorts on the blk number), one of each per layer: the count is the layer index.
int layer_of(std::string_view name) {
    int layer = -1;
    const std::string s(name);
    QLS_CHECK(FormatError, std::sscanf(s.c_str(), "blk.%d.", &layer) == 1, "tensor '", name, "' has no layer");
    return layer;
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// The rules proper, before the shape fallback.
GgmlType chosen_type(GgufQuantMix mix, const GgufMixModel& m, std::string_view name, std::int64_t ne0) {
    const GgmlType base = base_type(mix);
    const bool k_m = mix == GgufQuantMix::Q4_K_M || mix == GgufQuantMix::Q5_K_M;
    // The output projection, and token_embd when it doubles as one: Q6_K, or Q8_0 when the
    // row does not fill 256-blocks of the mix's own type.
    if (name == "output.weight" || (!m.has_output && name == "token_embd.weight"))
        return ne0 % ggml_type_info(base)->block_size != 0 ? GgmlType::Q8_0 : GgmlType::Q6_K;
    if (name == "token_embd.weight") return base;
    if (contains(name, "attn_v.weight")) {
        if (k_m && use_more_bits(layer_of(name), m.n_layer)) return GgmlType::Q6_K;
        // llama.cpp's "70B" (80 layers; for llama only with grouped-query attention) widens
        // Q4_K value projections, whose matrices are 8x smaller than the query's there.
        const bool is_70b = m.n_layer == 80 && (m.arch == "qwen2" || m.n_head != m.n_head_kv);
        if (is_70b && base == GgmlType::Q4_K) return GgmlType::Q5_K;
        return base;
    }
    if (contains(name, "ffn_down") && k_m && use_more_bits(layer_of(name), m.n_layer)) return GgmlType::Q6_K;
    // attn_q, attn_k, attn_output, ffn_gate, ffn_up: the mix's type for Q4_K_M, Q5_K_M and Q6_K.
    return base;
}

}  // namespace

GgmlType gguf_mix_tensor_type(GgufQuantMix mix, const GgufMixModel& model, std::string_view name,
                              std::span<const std::int64_t> ne) {
    // Only 2-D and larger "...weight" tensors other than norms are quantized.
    if (ne.size() < 2 || !name.ends_with("weight") || contains(name, "_norm.weight")) return GgmlType::F32;
    const GgmlType type = chosen_type(mix, model, name, ne[0]);
    if (ne[0] % ggml_type_info(type)->block_size == 0) return type;
    // A row that K blocks cannot cover: the 32-block type of about the same size, and F16 when
    // even 32 does not divide it.
    GgmlType fallback = type;
    switch (type) {
        case GgmlType::Q4_K: fallback = GgmlType::Q5_0; break;
        case GgmlType::Q5_K: fallback = GgmlType::Q5_1; break;
        case GgmlType::Q6_K: fallback = GgmlType::Q8_0; break;
        default: break;  // Q8_0 already has 32-blocks
    }
    return ne[0] % ggml_type_info(fallback)->block_size == 0 ? fallback : GgmlType::F16;
}

std::uint32_t gguf_mix_file_type(GgufQuantMix mix) {
    switch (mix) {
        case GgufQuantMix::Q4_K_M: return 15;
        case GgufQuantMix::Q5_K_M: return 17;
        case GgufQuantMix::Q6_K: return 18;
    }
    QLS_ASSERT(false, "unknown quant mix");
    return 0;
}

std::string_view gguf_mix_name(GgufQuantMix mix) {
    switch (mix) {
        case GgufQuantMix::Q4_K_M: return "Q4_K_M";
        case GgufQuantMix::Q5_K_M: return "Q5_K_M";
        case GgufQuantMix::Q6_K: return "Q6_K";
    }
    QLS_ASSERT(false, "unknown quant mix");
    return {};
}

}  // namespace qls
