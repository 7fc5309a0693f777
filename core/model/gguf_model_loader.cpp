// GGUF -> LlamaConfig, HF-named fp32 weights and tokenizer data (formats.md §9.3), inverting
// what llama.cpp's convert_hf_to_gguf.py does for LlamaForCausalLM, MistralForCausalLM and
// Qwen2ForCausalLM.
#include "core/model/gguf_model_loader.h"

#include <array>
#include <charconv>
#include <cstring>
#include <set>
#include <utility>

#include "core/io/ggml_dequant.h"
#include "core/model/gguf_rope_scaling.h"
#include "core/model/llama_tensors.h"
#include "core/util/error.h"

namespace qls {

namespace {

// blk.N.<gguf> -> model.layers.N.<hf>
constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kLayerNames = {{
    {"attn_norm", "input_layernorm"},
    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"},
    {"ffn_norm", "post_attention_layernorm"},
    {"ffn_gate", "mlp.gate_proj"},
    {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
}};

std::string layer_tensor_name(std::string_view rest) {
    // rest = "N.<gguf>.<weight|bias>"
    const auto dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0) return {};
    std::uint64_t layer = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + dot, layer);
    if (ec != std::errc() || end != rest.data() + dot) return {};
    const std::string_view tail = rest.substr(dot + 1);
    for (const auto& [gguf, hf] : kLayerNames) {
        for (std::string_view suffix : {".weight", ".bias"}) {
            if (tail.size() == gguf.size() + suffix.size() && tail.starts_with(gguf) && tail.ends_with(suffix))
                return str_cat("model.layers.", layer, ".", hf, suffix);
        }
    }
    return {};
}

// Far above any real model, low enough that products of sizes cannot overflow int64.
constexpr std::int64_t kMaxSize = std::int64_t(1) << 24;

std::int64_t positive(const GgufFile& f, const std::string& key) {
    const std::int64_t v = f.require_int(key);
    QLS_CHECK(FormatError, v > 0 && v <= kMaxSize, f.where(), "key '", key, "' is ", v, ", expected 1..", kMaxSize);
    return v;
}

void read_sizes(const GgufFile& f, const std::string& p, LlamaConfig& c) {
    c.hidden_size = positive(f, p + "embedding_length");
    c.intermediate_size = positive(f, p + "feed_forward_length");
    c.num_layers = positive(f, p + "block_count");
    c.num_heads = positive(f, p + "attention.head_count");
    c.num_kv_heads = f.contains(p + "attention.head_count_kv") ? positive(f, p + "attention.head_count_kv")
                                                                 : c.num_heads;
    QLS_CHECK(FormatError, c.num_heads % c.num_kv_heads == 0, f.where(), "key '", p,
              "attention.head_count_kv' (", c.num_kv_heads, ") does not divide head_count (", c.num_heads, ")");
    // llama.cpp: n_embd_head_k = key_length, else n_embd / n_head; n_rot defaults to it.
    if (f.contains(p + "attention.key_length")) {
        c.head_dim = positive(f, p + "attention.key_length");
    } else {
        QLS_CHECK(FormatError, c.hidden_size % c.num_heads == 0, f.where(), "key '", p,
                  "attention.head_count' (", c.num_heads, ") does not divide embedding_length (", c.hidden_size,
                  ") and attention.key_length is absent");
        c.head_dim = c.hidden_size / c.num_heads;
    }
    QLS_CHECK(FormatError, c.head_dim % 2 == 0, f.where(), "head dimension ", c.head_dim,
              " is odd; rotary embeddings need an even head_dim");
    for (const char* key : {"attention.value_length", "rope.dimension_count"}) {
        const auto v = f.get_int(p + key);
        QLS_CHECK(FormatError, !v || *v == c.head_dim, f.where(), "key '", p, key, "' is ", *v,
                  ", expected the head dimension ", c.head_dim, " (partial rotary and value_length != "
                  "key_length are not supported)");
    }
    c.max_position_embeddings = positive(f, p + "context_length");
}

void read_rope(const GgufFile& f, const std::string& p, LlamaConfig& c) {
    c.rope_theta = f32_shortest_decimal(f.get_float(p + "rope.freq_base").value_or(10000.0));
    QLS_CHECK(FormatError, c.rope_theta > 0, f.where(), "key '", p, "rope.freq_base' is ", c.rope_theta,
              ", expected > 0");
    const std::string type = f.get_string(p + "rope.scaling.type").value_or("none");
    if (type == "linear") {
        c.rope_scaling.type = RopeType::Linear;
        c.rope_scaling.factor = f32_shortest_decimal(f.require_float(p + "rope.scaling.factor"));
    } else if (const auto legacy = f.get_float(p + "rope.scale_linear"); type == "none" && legacy && *legacy != 1.0) {
        c.rope_scaling.type = RopeType::Linear;
        c.rope_scaling.factor = f32_shortest_decimal(*legacy);
    } else {
        QLS_CHECK(FormatError, type == "none", f.where(), "key '", p, "rope.scaling.type': unsupported rope scaling '",
                  type, "' (supported: none, linear, llama3 via rope_freqs.weight)");
    }
    QLS_CHECK(FormatError, c.rope_scaling.factor >= 1.0, f.where(), "rope scaling factor is ",
              c.rope_scaling.factor, ", expected >= 1");
}

std::optional<std::int64_t> token_id(const GgufFile& f, const std::string& key, std::size_t n_tokens) {
    const auto id = f.get_int(key);
    // llama.cpp ignores a special-token id outside the vocabulary; so do we.
    if (!id || *id < 0 || std::uint64_t(*id) >= n_tokens) return std::nullopt;
    return id;
}

std::vector<float> dequantize_rope_freqs(const GgufFile& f, const LlamaConfig& c) {
    const GgufTensorInfo& t = f.tensor("rope_freqs.weight");
    QLS_CHECK(FormatError, t.numel() * 2 == c.head_dim, f.where(), "tensor 'rope_freqs.weight' has ", t.numel(),
              " values, expected head_dim / 2 = ", c.head_dim / 2);
    std::vector<float> divisors = gguf_dequantize(f, t);
    const auto scaling = llama3_scaling_from_rope_freqs(divisors, c.rope_theta, c.head_dim);
    QLS_CHECK(FormatError, scaling.has_value(), f.where(),
              "tensor 'rope_freqs.weight': its per-frequency divisors match no llama3 rope scaling");
    QLS_CHECK(FormatError, c.rope_scaling.type == RopeType::Default, f.where(),
              "both a rope scaling type and tensor 'rope_freqs.weight' are present");
    return divisors;
}

// llama.cpp's converter reordered the rows of each head from HF's rotate_half pairs (j, j+hd/2)
// to adjacent pairs: new_row[h*hd + 2j + t] = old_row[h*hd + t*(hd/2) + j]. Put them back.
// The rows may hold fp32 values or quantized blocks: the permutation moves whole rows, and a
// block never crosses a row.
void unpermute_rows(std::span<std::byte> data, std::int64_t n_head, std::int64_t head_dim) {
    const std::size_t row_bytes = data.size() / std::size_t(n_head * head_dim);
    QLS_ASSERT(row_bytes * std::size_t(n_head * head_dim) == data.size(), "unpermute: ", data.size(), " bytes");
    const std::vector<std::byte> permuted(data.begin(), data.end());
    const std::int64_t half = head_dim / 2;
    for (std::int64_t h = 0; h < n_head; ++h)
        for (std::int64_t j = 0; j < half; ++j)
            for (std::int64_t t = 0; t < 2; ++t) {
                const std::size_t from = std::size_t(h * head_dim + 2 * j + t);
                const std::size_t to = std::size_t(h * head_dim + t * half + j);
                std::memcpy(&data[to * row_bytes], &permuted[from * row_bytes], row_bytes);
            }
}

}  // namespace

std::string gguf_to_hf_tensor_name(std::string_view name) {
    if (name == "token_embd.weight") return "model.embed_tokens.weight";
    if (name == "output_norm.weight") return "model.norm.weight";
    if (name == "output.weight") return "lm_head.weight";
    if (name.starts_with("blk.")) return layer_tensor_name(name.substr(4));
    return {};
}

LlamaConfig read_gguf_llama_config(const GgufFile& f) {
    const std::string arch = f.require_string("general.architecture");
    QLS_CHECK(FormatError, arch == "llama" || arch == "qwen2", f.where(), "key 'general.architecture': "
              "unsupported architecture '", arch, "' (supported: llama, qwen2)");
    const std::string p = arch + ".";
    LlamaConfig c;
    c.model_type = arch;
    c.architecture = arch == "llama" ? "LlamaForCausalLM" : "Qwen2ForCausalLM";
    c.qkv_bias = arch == "qwen2";
    read_sizes(f, p, c);
    c.rms_norm_eps = f32_shortest_decimal(f.require_float(p + "attention.layer_norm_rms_epsilon"));
    QLS_CHECK(FormatError, c.rms_norm_eps > 0, f.where(), "key '", p, "attention.layer_norm_rms_epsilon' is ",
              c.rms_norm_eps, ", expected > 0");
    read_rope(f, p, c);
    if (const auto n = f.get_int(p + "vocab_size")) c.vocab_size = *n;
    else if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens"); tokens && std::holds_alternative<GgufArray>(tokens->data))
        c.vocab_size = std::int64_t(std::get<GgufArray>(tokens->data).items.size());
    else if (const GgufTensorInfo* emb = f.find_tensor("token_embd.weight"); emb && emb->ne.size() == 2)
        c.vocab_size = emb->ne[1];
    QLS_CHECK(FormatError, c.vocab_size > 0 && c.vocab_size <= kMaxSize, f.where(), "vocabulary size ", c.vocab_size,
              " (from '", p, "vocab_size', tokenizer.ggml.tokens or token_embd.weight) is not in 1..", kMaxSize);
    if (const auto w = f.get_int(p + "attention.sliding_window")) c.sliding_window = *w;
    c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
    return c;
}

GgufTokenizerData read_gguf_tokenizer(const GgufFile& f) {
    GgufTokenizerData t;
    t.model = f.require_string("tokenizer.ggml.model");
    t.pre = f.get_string("tokenizer.ggml.pre").value_or("default");
    t.tokens = f.get_string_array("tokenizer.ggml.tokens").value_or(std::vector<std::string>{});
    QLS_CHECK(FormatError, !t.tokens.empty(), f.where(), "key 'tokenizer.ggml.tokens' is missing or empty");
    const std::size_t n = t.tokens.size();
    t.scores = f.get_f32_array("tokenizer.ggml.scores").value_or(std::vector<float>{});
    QLS_CHECK(FormatError, t.scores.empty() || t.scores.size() == n, f.where(), "key 'tokenizer.ggml.scores' has ",
              t.scores.size(), " entries for ", n, " tokens");
    for (std::int64_t type : f.get_int_array("tokenizer.ggml.token_type").value_or(std::vector<std::int64_t>{})) {
        QLS_CHECK(FormatError, type >= 0 && type <= 6, f.where(), "key 'tokenizer.ggml.token_type' has type ", type,
                  " for token ", t.token_types.size(), ", expected 0..6");
        t.token_types.push_back(std::int32_t(type));
    }
    QLS_CHECK(FormatError, t.token_types.empty() || t.token_types.size() == n, f.where(),
              "key 'tokenizer.ggml.token_type' has ", t.token_types.size(), " entries for ", n, " tokens");
    t.merges = f.get_string_array("tokenizer.ggml.merges").value_or(std::vector<std::string>{});
    t.bos_id = token_id(f, "tokenizer.ggml.bos_token_id", n);
    t.eos_id = token_id(f, "tokenizer.ggml.eos_token_id", n);
    t.unk_id = token_id(f, "tokenizer.ggml.unknown_token_id", n);
    t.pad_id = token_id(f, "tokenizer.ggml.padding_token_id", n);
    t.add_bos = f.get_bool("tokenizer.ggml.add_bos_token");
    t.add_eos = f.get_bool("tokenizer.ggml.add_eos_token");
    t.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix");
    t.chat_template = f.get_string("tokenizer.chat_template").value_or("");
    return t;
}

GgufModel load_gguf_model(const GgufFile& f) {
    GgufModel m;
    m.name = f.get_string("general.name").value_or("");
    m.config = read_gguf_llama_config(f);
    m.tokenizer = read_gguf_tokenizer(f);
    LlamaConfig& c = m.config;
    if (m.tokenizer.bos_id) c.bos_token_ids = {*m.tokenizer.bos_id};
    if (m.tokenizer.eos_id) c.eos_token_ids = {*m.tokenizer.eos_id};
    c.pad_token_id = m.tokenizer.pad_id;
    if (f.find_tensor("rope_freqs.weight")) {
        m.rope_freqs = dequantize_rope_freqs(f, c);
        c.rope_scaling = *llama3_scaling_from_rope_freqs(m.rope_freqs, c.rope_theta, c.head_dim);
    }

    // Each layer has 9 tensors; a block_count beyond that would only build a huge expected list.
    QLS_CHECK(FormatError, std::uint64_t(c.num_layers) * 9 <= f.tensors().size(), f.where(), "key '", c.model_type,
              ".block_count' is ", c.num_layers, " but the file has only ", f.tensors().size(), " tensors");
    // Names and shapes first, so a wrong file fails before the expensive dequantization.
    std::map<std::string, const GgufTensorInfo*> by_hf_name;
    for (const GgufTensorInfo& t : f.tensors()) {
        if (t.name == "rope_freqs.weight") continue;
        std::string hf = gguf_to_hf_tensor_name(t.name);
        QLS_CHECK(FormatError, !hf.empty(), f.where(), "tensor '", t.name, "' is not part of a ", c.model_type, " model");
        const auto [it, fresh] = by_hf_name.emplace(std::move(hf), &t);
        QLS_CHECK(FormatError, fresh, f.where(), "tensors '", it->second->name, "' and '", t.name, "' both map to '",
                  it->first, "'");
    }
    for (const ExpectedTensor& e : llama_expected_tensors(c)) {
        auto it = by_hf_name.find(e.name);
        QLS_CHECK(FormatError, it != by_hf_name.end(), f.where(), "missing tensor '", e.name, "'");
        QLS_CHECK(FormatError, it->second->shape() == e.shape, f.where(), "tensor '", it->second->name, "' (", e.name,
                  "): expected shape ", e.shape, " (ne reversed), got ", it->second->shape());
    }

    // The tensors stay in the file as it stores them: F32 as a view of the mapping, every other
    // type as its bytes there, decoded by dense_values() when someone asks. Only rows that must
    // be reordered (llama's q and k), or bytes that live in a GgufFile read into memory, are copied.
    m.weights.format = ModelFormat::Gguf;
    if (f.mapping()) m.weights.files.push_back(f.mapping());
    for (const auto& [hf, t] : by_hf_name) {
        QLS_CHECK(FormatError, ggml_can_dequantize(t->type), f.where(), "unsupported GGUF tensor type ",
                  ggml_type_info(t->type)->name, " in tensor '", t->name, "'");
        const bool is_q = hf.find(".q_proj.") != std::string::npos, is_k = hf.find(".k_proj.") != std::string::npos;
        const bool permuted = c.model_type == "llama" && (is_q || is_k);
        Weight w;
        w.shape = t->shape();
        w.gguf_type = t->type;
        std::span<const std::byte> data = t->data;
        if (permuted || !f.mapping()) {
            auto copy = std::make_shared<std::vector<std::byte>>(data.begin(), data.end());
            if (permuted) unpermute_rows(*copy, is_q ? c.num_heads : c.num_kv_heads, c.head_dim);
            data = *copy;
            w.owned = std::move(copy);
        }
        if (t->type == GgmlType::F32) {
            w.view = TensorView{DType::F32, w.shape, data};
        } else {
            w.view = TensorView{DType::F32, w.shape, {}};
            w.gguf_data = data;
            w.gguf_blocks = ggml_type_info(t->type)->block_size > 1 && w.shape.size() == 2;
        }
        m.weights.tensors.emplace(hf, std::move(w));
    }
    check_model_weights(c, m.weights, f.source());
    const std::vector<std::string> extra = unexpected_tensors(c, m.weights);
    QLS_CHECK(FormatError, extra.empty(), f.where(), "tensors the ", c.model_type, " model does not use: ", extra);
    return m;
}

KeptGgufBlocks gguf_linear_blocks(const GgufFile& file) {
    std::set<std::string_view> types;
    KeptGgufBlocks kept;
    for (const GgufTensorInfo& t : file.tensors()) {
        const std::string hf = gguf_to_hf_tensor_name(t.name);
        if (!hf.ends_with("_proj.weight")) continue;  // q/k/v/o in self_attn, gate/up/down in mlp
        if (t.shape().size() == 2 && ggml_type_info(t.type)->block_size > 1)
            types.insert(ggml_type_info(t.type)->name);
        else
            kept.all = false;
    }
    for (std::string_view t : types) kept.types += str_cat(kept.types.empty() ? "" : ", ", t);
    return kept;
}

GgufModel load_gguf_model(const std::filesystem::path& path) {
    const GgufFile file(path);
    return load_gguf_model(file);
}

}  // namespace qls
