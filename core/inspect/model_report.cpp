#include "core/inspect/model_report.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "core/quant/quantize_4bit.h"
#include "core/tokenizer/tokenizer.h"

namespace qls {

std::string chat_template_family(std::string_view t) {
    if (t.empty()) return "none";
    struct Marker {
        std::string_view text, family;
    };
    // Ordered: Zephyr and Phi-3 share <|user|>; Gemma's turn markers are unique.
    static constexpr Marker kMarkers[] = {
        {"<|start_header_id|>", "Llama-3"}, {"<|im_start|>", "ChatML"},
        {"<start_of_turn>", "Gemma"},       {"<|end|>", "Phi-3"},
        {"<|user|>", "Zephyr"},             {"[INST]", "Llama-2/Mistral"},
        {"### Instruction", "Alpaca"},
    };
    for (const auto& m : kMarkers)
        if (t.find(m.text) != std::string_view::npos) return std::string(m.family);
    return "custom";
}

namespace {

TokenizerInfo describe(const Tokenizer& tok) {
    TokenizerInfo info;
    info.kind = tok.kind();
    info.vocab_size = tok.vocab_size();
    auto name = [&](std::optional<int> id) { return id ? tok.id_to_token(*id) : std::string(); };
    info.bos = name(tok.bos_id());
    info.eos = name(tok.eos_id());
    info.pad = name(tok.pad_id());
    info.add_bos = tok.config().add_bos_token.value_or(false);
    info.chat_template_family = chat_template_family(tok.chat_template());
    return info;
}

nlohmann::json summary_json(const QuantErrorSummary& s) {
    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    return {{"mse", num(s.mse)}, {"max_abs_error", num(s.max_abs_error)}, {"snr_db", num(s.snr_db)},
            {"bits_per_param", num(s.bits_per_param)}};
}

nlohmann::json config_json(const LlamaConfig& c) {
    nlohmann::json j = {{"model_type", c.model_type},
                        {"architecture", c.architecture},
                        {"hidden_size", c.hidden_size},
                        {"intermediate_size", c.intermediate_size},
                        {"num_layers", c.num_layers},
                        {"num_heads", c.num_heads},
                        {"num_kv_heads", c.num_kv_heads},
                        {"head_dim", c.head_dim},
                        {"vocab_size", c.vocab_size},
                        {"context_length", c.max_position_embeddings},
                        {"rms_norm_eps", c.rms_norm_eps},
                        {"rope_theta", c.rope_theta},
                        {"tie_word_embeddings", c.tie_word_embeddings},
                        {"qkv_bias", c.qkv_bias},
                        {"dtype", c.dtype}};
    static constexpr const char* kRope[] = {"default", "linear", "llama3"};
    j["rope_scaling"] = {{"type", kRope[static_cast<int>(c.rope_scaling.type)]},
                         {"factor", c.rope_scaling.factor}};
    if (c.quantization)
        j["quantization"] = {{"quant_type", quant_type_name(c.quantization->quant_type)},
                             {"double_quant", c.quantization->double_quant},
                             {"compute_dtype", c.quantization->compute_dtype}};
    return j;
}

}  // namespace

ModelReport inspect_model(const Model& model, const InspectOptions& options, const ProgressFn& progress) {
    check_quant_blocksize(options.blocksize);
    ModelReport r;
    r.path = model.path.string();
    r.name = model.name;
    r.format = std::string(model_format_name(model.weights.format));
    r.config = model.config;
    r.parameters = parameter_count(model.config);
    r.storage = stored_types(model.weights);
    try {
        r.tokenizer = describe(load_model_tokenizer(model));
    } catch (const Error& e) {
        r.tokenizer_error = e.what();  // a model without a usable tokenizer can still be inspected
    }
    r.memory = weight_memory_all(model.config, options.blocksize);
    if (options.error_table) r.errors = quant_error_table(model, options.blocksize, progress);
    return r;
}

namespace {
// stored_types' names ("BF16", "NF4 + double quant"), from what the config says the files hold.
std::vector<StoredType> layout_types(const ModelLayout& layout) {
    std::vector<StoredType> out;
    for (const StoredTensor& t : layout.tensors) {
        std::string name(dtype_name(t.dtype));
        if (t.quant) name = str_cat(t.quant->type == QuantType::FP4 ? "FP4" : "NF4", t.quant->double_quant ? " + double quant" : "");
        auto it = std::find_if(out.begin(), out.end(), [&](const StoredType& s) { return s.name == name; });
        if (it == out.end()) it = out.insert(out.end(), StoredType{name, 0, 0});
        ++it->tensors;
        it->params += numel(t.shape);
    }
    std::stable_sort(out.begin(), out.end(), [](const StoredType& a, const StoredType& b) { return a.params > b.params; });
    return out;
}
}  // namespace

ModelReport inspect_config_only(const ModelLayout& layout, const InspectOptions& options) {
    check_quant_blocksize(options.blocksize);
    ModelReport r;
    r.path = layout.path.string();
    r.name = layout.name;
    r.format = "config only: weights not downloaded";
    r.config = layout.config;
    r.parameters = parameter_count(layout.config);
    r.storage = layout_types(layout);
    try {
        // A config.json given as a file: its tokenizer, if any, sits beside it.
        const bool folder = std::filesystem::is_directory(layout.path);
        r.tokenizer = describe(load_tokenizer_from(folder ? layout.path : layout.path.parent_path()));
    } catch (const Error& e) {
        r.tokenizer_error = e.what();
    }
    r.memory = weight_memory_all(layout.config, options.blocksize);
    return r;
}

nlohmann::json to_json(const ModelReport& r) {
    nlohmann::json j = {{"path", r.path}, {"name", r.name}, {"format", r.format},
                        {"config", config_json(r.config)}, {"parameters", r.parameters}};
    for (const StoredType& t : r.storage)
        j["storage"].push_back({{"type", t.name}, {"tensors", t.tensors}, {"params", t.params}});
    if (r.tokenizer)
        j["tokenizer"] = {{"kind", r.tokenizer->kind},         {"vocab_size", r.tokenizer->vocab_size},
                          {"bos", r.tokenizer->bos},           {"eos", r.tokenizer->eos},
                          {"pad", r.tokenizer->pad},           {"add_bos", r.tokenizer->add_bos},
                          {"chat_template", r.tokenizer->chat_template_family}};
    else
        j["tokenizer"] = {{"error", r.tokenizer_error}};
    for (const auto& m : r.memory)
        j["memory"].push_back({{"scheme", weight_scheme_name(m.scheme)},
                               {"total_bytes", m.total_bytes()},
                               {"linear_bytes", m.linear_bytes},
                               {"other_bytes", m.other_bytes},
                               {"linear_bits_per_param", m.linear_bits_per_param()}});
    if (r.errors) {
        auto& e = j["quant_errors"];
        e = {{"blocksize", r.errors->blocksize}, {"verdict", r.errors->verdict}, {"note", r.errors->note},
             {"total", {{"nf4", summary_json(r.errors->total_nf4)},
                        {"nf4_dq", summary_json(r.errors->total_nf4_dq)},
                        {"fp4", summary_json(r.errors->total_fp4)}}},
             {"tensors", nlohmann::json::array()}};
        for (const auto& row : r.errors->rows)
            e["tensors"].push_back({{"name", row.name}, {"layer", row.layer}, {"module", row.module},
                                    {"shape", row.shape}, {"nf4", summary_json(row.nf4)},
                                    {"nf4_dq", summary_json(row.nf4_dq)}, {"fp4", summary_json(row.fp4)}});
    }
    return j;
}

}  // namespace qls
