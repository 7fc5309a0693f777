// Merged GGUF export, following llama.cpp's convert_hf_to_gguf.py for LlamaForCausalLM /
// MistralForCausalLM (LlamaModel: permute, generate_extra_tensors) and Qwen2ForCausalLM.
#include "core/export/gguf_model_export.h"

#include <array>
#include <cmath>
#include <numbers>

#include "core/export/export_destination.h"
#include "core/export/ggml_encode.h"
#include "core/export/gguf_tokenizer_export.h"
#include "core/export/gguf_writer.h"
#include "core/export/merged_export.h"
#include "core/export/ollama_modelfile.h"
#include "core/model/llama_tensors.h"
#include "core/util/error.h"

namespace qls {

namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kLayerNames = {{
    {"input_layernorm", "attn_norm"},
    {"self_attn.q_proj", "attn_q"},
    {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"},
    {"post_attention_layernorm", "ffn_norm"},
    {"mlp.gate_proj", "ffn_gate"},
    {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
}};

GgmlType tensor_type(const GgufExportOptions& o, const GgufMixModel& mix_model, std::string_view gguf_name,
                     const Shape& shape) {
    if (o.mix) {
        const std::vector<std::int64_t> ne(shape.rbegin(), shape.rend());
        return gguf_mix_tensor_type(*o.mix, mix_model, gguf_name, ne);
    }
    const GgmlType wanted = o.type;
    if (shape.size() < 2) return GgmlType::F32;
    // The converter falls back to F16 for rows Q8_0 blocks cannot cover.
    if (wanted == GgmlType::Q8_0 && shape.back() % 32 != 0) return GgmlType::F16;
    return wanted;
}

GgufTokenizerData model_tokenizer(const Model& model) {
    if (model.gguf_tokenizer) return *model.gguf_tokenizer;
    return gguf_tokenizer_from_hf(model_folder(model), model.config.vocab_size);
}

}  // namespace

std::string hf_to_gguf_tensor_name(std::string_view name) {
    if (name == "model.embed_tokens.weight") return "token_embd.weight";
    if (name == "model.norm.weight") return "output_norm.weight";
    if (name == "lm_head.weight") return "output.weight";
    constexpr std::string_view layers = "model.layers.";
    if (!name.starts_with(layers)) return {};
    const std::string_view rest = name.substr(layers.size());
    const std::size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return {};
    const std::string_view tail = rest.substr(dot + 1);
    for (const auto& [hf, gguf] : kLayerNames)
        for (std::string_view suffix : {".weight", ".bias"})
            if (tail.size() == hf.size() + suffix.size() && tail.starts_with(hf) && tail.ends_with(suffix))
                return str_cat("blk.", rest.substr(0, dot), ".", gguf, suffix);
    return {};
}

std::vector<float> permute_qk_rows(const std::vector<float>& rows, std::int64_t n_head,
                                   std::int64_t head_dim) {
    const std::size_t n_rows = std::size_t(n_head * head_dim);
    QLS_ASSERT(n_rows > 0 && rows.size() % n_rows == 0, "permute: ", rows.size(), " values for ", n_rows,
               " rows");
    const std::size_t row_len = rows.size() / n_rows;
    const std::int64_t half = head_dim / 2;
    std::vector<float> out(rows.size());
    for (std::int64_t h = 0; h < n_head; ++h)
        for (std::int64_t j = 0; j < half; ++j)
            for (std::int64_t t = 0; t < 2; ++t) {
                const std::size_t to = std::size_t(h * head_dim + 2 * j + t);
                const std::size_t from = std::size_t(h * head_dim + t * half + j);
                std::copy_n(rows.begin() + std::ptrdiff_t(from * row_len), row_len,
                            out.begin() + std::ptrdiff_t(to * row_len));
            }
    return out;
}

std::vector<float> llama3_rope_freqs(const LlamaConfig& c) {
    const RopeScaling& s = c.rope_scaling;
    const auto dim = static_cast<float>(c.head_dim);
    const auto base = static_cast<float>(c.rope_theta);
    const double old_ctx = double(s.original_max_position);
    const double low_wavelen = old_ctx / s.low_freq_factor, high_wavelen = old_ctx / s.high_freq_factor;
    const auto factor = static_cast<float>(s.factor), low = static_cast<float>(s.low_freq_factor),
               high = static_cast<float>(s.high_freq_factor);
    std::vector<float> out;
    for (std::int64_t i = 0; i < c.head_dim; i += 2) {
        const float freq = 1.0f / std::pow(base, static_cast<float>(i) / dim);
        const float wavelen = static_cast<float>(2 * std::numbers::pi) / freq;
        if (wavelen < high_wavelen) {
            out.push_back(1.0f);
        } else if (wavelen > low_wavelen) {
            out.push_back(factor);
        } else {
            const float smooth = (static_cast<float>(old_ctx) / wavelen - low) / (high - low);
            out.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
        }
    }
    return out;
}

std::string gguf_architecture(const LlamaConfig& c) {
    if (c.model_type == "qwen2") return "qwen2";
    QLS_CHECK(ConfigError, c.model_type == "llama" || c.model_type == "mistral", "GGUF export: model type '",
              c.model_type, "' is not supported (llama, mistral, qwen2)");
    return "llama";
}

void add_gguf_llama_metadata(GgufWriter& w, const LlamaConfig& c) {
    const std::string p = gguf_architecture(c) + ".";
    w.set_u32(p + "context_length", std::uint32_t(c.max_position_embeddings));
    w.set_u32(p + "embedding_length", std::uint32_t(c.hidden_size));
    w.set_u32(p + "feed_forward_length", std::uint32_t(c.intermediate_size));
    w.set_u32(p + "block_count", std::uint32_t(c.num_layers));
    w.set_u32(p + "attention.head_count", std::uint32_t(c.num_heads));
    w.set_u32(p + "attention.head_count_kv", std::uint32_t(c.num_kv_heads));
    w.set_f32(p + "rope.freq_base", float(c.rope_theta));
    w.set_f32(p + "attention.layer_norm_rms_epsilon", float(c.rms_norm_eps));
    w.set_u32(p + "vocab_size", std::uint32_t(c.vocab_size));
    w.set_u32(p + "rope.dimension_count", std::uint32_t(c.head_dim));
    w.set_u32(p + "attention.key_length", std::uint32_t(c.head_dim));
    w.set_u32(p + "attention.value_length", std::uint32_t(c.head_dim));
    if (c.rope_scaling.type == RopeType::Linear) {
        w.set_string(p + "rope.scaling.type", "linear");
        w.set_f32(p + "rope.scaling.factor", float(c.rope_scaling.factor));
    }
    if (c.sliding_window > 0 && p == "qwen2.")
        w.set_u32(p + "attention.sliding_window", std::uint32_t(c.sliding_window));
}

void export_gguf_model(const Model& model, const LoraAdapter* adapter, const std::filesystem::path& path,
                       const GgufExportOptions& options, const ProgressFn& progress) {
    // A single type for every weight: the converter's four; K types come as llama.cpp's mixes.
    const GgmlType t = options.type;
    const bool plain = t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16 || t == GgmlType::Q8_0;
    QLS_CHECK(ConfigError, options.mix || plain, "GGUF export: type ", ggml_type_info(t)->name,
              " is not supported (F32, F16, BF16, Q8_0, or a mix: Q4_K_M, Q5_K_M, Q6_K)");
    const LlamaConfig& c = model.config;
    const std::string arch = gguf_architecture(c);
    if (adapter) check_adapter_fits(model, *adapter);
    const GgufTokenizerData tokenizer = model_tokenizer(model);

    GgufWriter w;
    w.set_string("general.architecture", arch);
    w.set_string("general.name", options.name.empty() ? model.name : options.name);
    add_gguf_llama_metadata(w, c);
    w.set_u32("general.file_type", options.mix ? gguf_mix_file_type(*options.mix) : ggml_file_type(options.type));
    w.set_u32("general.quantization_version", 2);
    const ExportKind kind = adapter ? ExportKind::Gguf : ExportKind::GgufBase;
    w.set_string(std::string(kGgufExportKey), std::string(gguf_export_tag(kind)));
    add_gguf_tokenizer(w, tokenizer);

    const bool permute = arch == "llama";
    const std::vector<std::string> names = model_tensor_names(model);
    GgufMixModel mix_model{arch, int(c.num_layers), int(c.num_heads), int(c.num_kv_heads), false};
    for (const std::string& name : names) mix_model.has_output |= hf_to_gguf_tensor_name(name) == "output.weight";
    for (const std::string& name : names) {
        const Shape shape = model.weights.get(name).shape;
        const std::string gguf_name = hf_to_gguf_tensor_name(name);
        const GgmlType type = tensor_type(options, mix_model, gguf_name, shape);
        std::vector<std::int64_t> ne(shape.rbegin(), shape.rend());
        w.add_tensor(gguf_name, type, ne,
                     [&model, adapter, name, &options, &c, permute, type, shape] {
                         std::vector<float> v = merged_tensor(model, adapter, name, options.base);
                         const bool q = name.find(".q_proj.") != std::string::npos,
                                    k = name.find(".k_proj.") != std::string::npos;
                         if (permute && (q || k))
                             v = permute_qk_rows(v, q ? c.num_heads : c.num_kv_heads, c.head_dim);
                         return ggml_encode(type, v, shape.back());
                     });
    }
    if (c.rope_scaling.type == RopeType::Llama3) {
        const std::vector<float> freqs = llama3_rope_freqs(c);
        w.add_tensor("rope_freqs.weight", GgmlType::F32, {std::int64_t(freqs.size())},
                     ggml_encode(GgmlType::F32, freqs, std::int64_t(freqs.size())));
    }
    w.write(path, progress);
    if (options.write_modelfile)
        write_ollama_modelfile(path, tokenizer);
}

}  // namespace qls
