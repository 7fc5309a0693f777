#include "core/model/llama_tensors.h"

#include <set>

#include "core/util/error.h"

namespace qls {

std::vector<ExpectedTensor> llama_expected_tensors(const LlamaConfig& c) {
    const std::int64_t h = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
    const std::int64_t inter = c.intermediate_size;
    std::vector<ExpectedTensor> out;
    out.push_back({"model.embed_tokens.weight", {c.vocab_size, h}, false});
    for (std::int64_t i = 0; i < c.num_layers; ++i) {
        const std::string p = "model.layers." + std::to_string(i) + ".";
        out.push_back({p + "input_layernorm.weight", {h}, false});
        out.push_back({p + "self_attn.q_proj.weight", {q, h}, true});
        out.push_back({p + "self_attn.k_proj.weight", {kv, h}, true});
        out.push_back({p + "self_attn.v_proj.weight", {kv, h}, true});
        if (c.qkv_bias) {
            out.push_back({p + "self_attn.q_proj.bias", {q}, false});
            out.push_back({p + "self_attn.k_proj.bias", {kv}, false});
            out.push_back({p + "self_attn.v_proj.bias", {kv}, false});
        }
        out.push_back({p + "self_attn.o_proj.weight", {h, q}, true});
        out.push_back({p + "post_attention_layernorm.weight", {h}, false});
        out.push_back({p + "mlp.gate_proj.weight", {inter, h}, true});
        out.push_back({p + "mlp.up_proj.weight", {inter, h}, true});
        out.push_back({p + "mlp.down_proj.weight", {h, inter}, true});
    }
    out.push_back({"model.norm.weight", {h}, false});
    if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, h}, false});
    return out;
}

void check_model_weights(const LlamaConfig& c, const ModelWeights& w, std::string_view source) {
    for (const auto& e : llama_expected_tensors(c)) {
        auto it = w.tensors.find(e.name);
        QLS_CHECK(FormatError, it != w.tensors.end(), source, ": missing tensor '", e.name, "'");
        const Weight& t = it->second;
        const Shape& got = t.is_quantized() ? t.quantized->shape : t.view.shape;
        QLS_CHECK(FormatError, got == e.shape, source, ": tensor '", e.name, "': expected ", e.shape,
                  ", got ", got);
        QLS_ASSERT(t.shape == got, "Weight '", e.name, "': shape ", t.shape, " but data of ", got);
        if (t.is_quantized()) {
            QLS_CHECK(FormatError, e.linear, source, ": tensor '", e.name,
                      "' is 4-bit quantized, but only linear weights may be");
        } else {
            QLS_CHECK(FormatError, dtype_is_float(t.view.dtype), source, ": tensor '", e.name,
                      "' has dtype ", dtype_name(t.view.dtype), ", expected F32, F16 or BF16");
        }
    }
}

std::vector<std::string> unexpected_tensors(const LlamaConfig& c, const ModelWeights& w) {
    std::set<std::string> expected;
    for (const auto& e : llama_expected_tensors(c)) expected.insert(e.name);
    std::vector<std::string> out;
    for (const auto& [name, weight] : w.tensors) {
        const bool inv_freq = name.ends_with("rotary_emb.inv_freq");
        if (!expected.count(name) && !inv_freq) out.push_back(name);
    }
    return out;
}

}  // namespace qls
