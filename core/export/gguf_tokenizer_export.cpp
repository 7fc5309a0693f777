#include "core/export/gguf_tokenizer_export.h"

#include <nlohmann/json.hpp>
#include <regex>
#include <unordered_map>

#include "core/tokenizer/regex.h"
#include "core/tokenizer/tokenizer_config.h"
#include "core/util/error.h"

namespace qls {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;

json read_json_file(const fs::path& p) {
    try {
        return json::parse(read_text_file(p));
    } catch (const json::exception& e) {
        throw FormatError(str_cat(p.string(), ": not valid JSON: ", e.what()));
    }
}

// gguf-py's convert_hf_to_gguf does_token_look_special.
bool looks_special(const std::string& t) {
    return t == "<pad>" || t == "<mask>" || (t.starts_with("<|") && t.ends_with("|>")) ||
           t.starts_with("<start_of_") || t.starts_with("<end_of_");
}

std::vector<json> pre_steps(const json& tok) {
    const json& pre = tok.value("pre_tokenizer", json());
    if (pre.is_null()) return {};
    if (pre.value("type", "") == "Sequence")
        return pre.value("pretokenizers", json::array()).get<std::vector<json>>();
    return {pre};
}

std::string split_regex(const json& step) {
    if (step.value("type", "") != "Split" || !step.contains("pattern")) return {};
    return step["pattern"].value("Regex", "");
}

// transformers 5 tokenizes Qwen2-family models with its own NFC + Qwen2-regex pipeline whatever
// tokenizer.json says (see core/tokenizer/tokenizer_loader.cpp), so their GGUF must say "qwen2".
bool is_qwen2_family(const json& config) {
    const std::string type = config.value("model_type", "");
    return type == "qwen2" || type == "qwen2_moe" || type == "qwen3" || type == "qwen3_moe";
}

// llama.cpp's tokenizer.ggml.pre for a byte-level BPE tokenizer.json.
std::string byte_level_pre(const json& tok, const json& config, const std::string& file) {
    if (is_qwen2_family(config)) return "qwen2";
    const std::vector<json> steps = pre_steps(tok);
    const auto type_of = [&](std::size_t i) {
        return i < steps.size() ? steps[i].value("type", "") : std::string();
    };
    if (steps.size() == 2 && type_of(1) == "ByteLevel") {
        const std::string re = split_regex(steps[0]);
        if (re == kLlama3Pattern) return "llama-bpe";
        if (re == kQwen2Pattern) return "qwen2";
        if (type_of(0) == "Digits" && steps[0].value("individual_digits", false)) return "smollm";
    }
    // "gpt-2", not "gpt2": llama.cpp refuses the model name as a pre-tokenizer ("unknown
    // pre-tokenizer type"), found by loading our export in llama.cpp itself.
    if (steps.size() == 1 && type_of(0) == "ByteLevel" && steps[0].value("use_regex", true)) return "gpt-2";
    throw FormatError(
        str_cat(file, ": field 'pre_tokenizer' ", tok.value("pre_tokenizer", json()).dump().substr(0, 200),
                " matches none of llama.cpp's pre-tokenizers we know (llama-bpe, qwen2, smollm, gpt-2)"));
}

bool is_byte_token(const std::string& t) {
    static const std::regex re("<0x[0-9A-Fa-f]{2}>");
    return std::regex_match(t, re);
}

bool prepends_space(const json& tok) {
    const json& n = tok.value("normalizer", json());
    if (n.is_null()) return false;
    std::vector<json> steps =
        n.value("type", "") == "Sequence" ? n["normalizers"].get<std::vector<json>>() : std::vector<json>{n};
    for (const json& s : steps)
        if (s.value("type", "") == "Prepend") return true;
    for (const json& s : pre_steps(tok))
        if (s.value("type", "") == "Metaspace") return s.value("prepend_scheme", "always") != "never";
    return false;
}

std::vector<std::string> merge_strings(const json& merges, const std::string& file) {
    std::vector<std::string> out;
    for (const json& m : merges) {
        if (m.is_string())
            out.push_back(m.get<std::string>());
        else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
            out.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
        else
            throw FormatError(
                str_cat(file, ": field 'model.merges' holds ", m.dump(), ", expected \"a b\" or [a, b]"));
    }
    return out;
}

// Token ids index arrays we allocate: bounded far above any real vocabulary.
std::int64_t checked_id(const json& id, const std::string& field, const std::string& file) {
    constexpr std::int64_t kMaxTokens = std::int64_t(1) << 24;
    QLS_CHECK(FormatError,
              id.is_number_integer() && id.get<std::int64_t>() >= 0 && id.get<std::int64_t>() < kMaxTokens,
              file, ": field '", field, "' is ", id.dump(), ", expected a token id 0..", kMaxTokens - 1);
    return id.get<std::int64_t>();
}

std::optional<std::int64_t> id_of(const std::optional<std::string>& token,
                                  const std::unordered_map<std::string, std::int64_t>& ids) {
    if (!token) return std::nullopt;
    const auto it = ids.find(*token);
    return it == ids.end() ? std::nullopt : std::optional<std::int64_t>(it->second);
}

std::optional<std::int64_t> config_id(const json& config, const char* key) {
    const json v = config.value(key, json());
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<std::int64_t>();
    return std::nullopt;
}

void special_ids(const fs::path& folder, const json& config,
                 const std::unordered_map<std::string, std::int64_t>& ids, const json& model,
                 GgufTokenizerData& t) {
    const TokenizerConfig cfg = load_tokenizer_config(folder);
    // SpecialVocab: tokenizer_config.json first, then config.json's *_token_id.
    t.bos_id = id_of(cfg.bos_token, ids);
    if (!t.bos_id) t.bos_id = config_id(config, "bos_token_id");
    t.eos_id = id_of(cfg.eos_token, ids);
    if (!t.eos_id) t.eos_id = config_id(config, "eos_token_id");
    t.pad_id = id_of(cfg.pad_token, ids);
    if (!t.pad_id) t.pad_id = config_id(config, "pad_token_id");
    t.unk_id = id_of(cfg.unk_token, ids);
    if (!t.unk_id && model.value("unk_token", json()).is_string())
        t.unk_id = id_of(model["unk_token"].get<std::string>(), ids);
    t.add_bos = cfg.add_bos_token;
    t.add_eos = cfg.add_eos_token;
    t.chat_template = cfg.chat_template;
}

GgufTokenizerData convert(const fs::path& folder, std::int64_t vocab_size, const std::string& file) {
    const json tok = read_json_file(file);
    const json config =
        fs::is_regular_file(folder / "config.json") ? read_json_file(folder / "config.json") : json::object();
    const json& model = tok.value("model", json());
    QLS_CHECK(FormatError, model.is_object() && model.value("type", "") == "BPE", file,
              ": field 'model.type' is ", model.is_object() ? model.value("type", json()).dump() : "missing",
              ", only BPE tokenizers can be written to GGUF");
    std::unordered_map<std::string, std::int64_t> ids;
    const json vocab = model.value("vocab", json::object());
    for (const auto& [text, id] : vocab.items())
        ids[text] = checked_id(id, "model.vocab['" + text + "']", file);
    std::unordered_map<std::int64_t, json> added;
    for (const json& a : tok.value("added_tokens", json::array())) {
        QLS_CHECK(FormatError, a.is_object() && a.value("content", json()).is_string(), file,
                  ": field 'added_tokens' holds ", a.dump(), ", expected {\"id\": n, \"content\": \"...\"}");
        const std::int64_t id = checked_id(a.value("id", json()), "added_tokens[].id", file);
        added[id] = a;
        ids[a["content"].get<std::string>()] = id;
    }
    std::int64_t n = vocab_size;
    for (const auto& [text, id] : ids) n = std::max(n, id + 1);

    GgufTokenizerData t;
    const bool spm = model.value("byte_fallback", false);
    t.model = spm ? "llama" : "gpt2";
    t.pre = spm ? "default" : byte_level_pre(tok, config, file);
    t.tokens.assign(std::size_t(n), {});
    t.token_types.assign(std::size_t(n), kUnused);
    for (const auto& [text, id] : ids) t.tokens[std::size_t(id)] = text;
    special_ids(folder, config, ids, model, t);
    for (std::int64_t i = 0; i < n; ++i) {
        std::string& text = t.tokens[std::size_t(i)];
        std::int32_t& type = t.token_types[std::size_t(i)];
        const auto a = added.find(i);
        if (text.empty() && a == added.end())
            text = str_cat("[PAD", i, "]");
        else if (spm && is_byte_token(text))
            type = kByte;
        else if (spm && t.unk_id == i)
            type = kUnknown;
        else if (a != added.end())
            type = a->second.value("special", false) || looks_special(text) ? kControl : kUserDefined;
        else
            type = kNormal;
    }
    const std::vector<std::string> merges = merge_strings(model.value("merges", json::array()), file);
    if (spm) {
        // A piece made by merge k scores -k: llama.cpp merges the best-scoring pair first.
        t.scores.assign(std::size_t(n), -1e6f);
        for (std::size_t k = 0; k < merges.size(); ++k) {
            const std::string& m = merges[k];
            const auto it = ids.find(m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1));
            if (it != ids.end() && t.scores[std::size_t(it->second)] == -1e6f)
                t.scores[std::size_t(it->second)] = -float(k);
        }
        t.add_space_prefix = prepends_space(tok);
    } else {
        t.merges = merges;
    }
    return t;
}

}  // namespace

GgufTokenizerData gguf_tokenizer_from_hf(const fs::path& folder, std::int64_t vocab_size) {
    const std::string file = (folder / "tokenizer.json").string();
    QLS_CHECK(FormatError, fs::is_regular_file(file), "GGUF export: ", file, " is missing");
    try {
        return convert(folder, vocab_size, file);
    } catch (const json::exception& e) {  // a field of an unexpected JSON type
        throw FormatError(str_cat(file, ": ", e.what()));
    }
}

void add_gguf_tokenizer(GgufWriter& w, const GgufTokenizerData& t) {
    w.set_string("tokenizer.ggml.model", t.model);
    w.set_string("tokenizer.ggml.pre", t.pre);
    w.set_string_array("tokenizer.ggml.tokens", t.tokens);
    if (!t.scores.empty()) w.set_f32_array("tokenizer.ggml.scores", t.scores);
    w.set_i32_array("tokenizer.ggml.token_type", t.token_types);
    if (!t.merges.empty()) w.set_string_array("tokenizer.ggml.merges", t.merges);
    const auto set_id = [&](const char* key, const std::optional<std::int64_t>& id) {
        if (id && *id >= 0 && std::size_t(*id) < t.tokens.size()) w.set_u32(key, std::uint32_t(*id));
    };
    set_id("tokenizer.ggml.bos_token_id", t.bos_id);
    set_id("tokenizer.ggml.eos_token_id", t.eos_id);
    set_id("tokenizer.ggml.unknown_token_id", t.unk_id);
    set_id("tokenizer.ggml.padding_token_id", t.pad_id);
    if (t.add_bos) w.set_bool("tokenizer.ggml.add_bos_token", *t.add_bos);
    if (t.add_eos) w.set_bool("tokenizer.ggml.add_eos_token", *t.add_eos);
    if (t.add_space_prefix) w.set_bool("tokenizer.ggml.add_space_prefix", *t.add_space_prefix);
    if (!t.chat_template.empty()) w.set_string("tokenizer.chat_template", t.chat_template);
}

}  // namespace qls
