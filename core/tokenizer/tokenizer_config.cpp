#include "core/tokenizer/tokenizer_config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace qls {
namespace {

using nlohmann::json;

// bos_token and friends: a string, {"content": ...} (AddedToken form) or null.
std::optional<std::string> token_field(const json& cfg, const char* key, std::string_view src) {
    auto it = cfg.find(key);
    if (it == cfg.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    QLS_CHECK(FormatError, it->is_object() && it->contains("content") && (*it)["content"].is_string(), src,
              ": field '", key, "' must be a string or an object with a string \"content\", got ", it->dump());
    return (*it)["content"].get<std::string>();
}

std::optional<bool> bool_field(const json& cfg, const char* key, std::string_view src) {
    auto it = cfg.find(key);
    if (it == cfg.end() || it->is_null()) return std::nullopt;
    QLS_CHECK(FormatError, it->is_boolean(), src, ": field '", key, "' must be true or false, got ", it->dump());
    return it->get<bool>();
}

std::string chat_template_field(const json& cfg, std::string_view src) {
    auto it = cfg.find("chat_template");
    if (it == cfg.end() || it->is_null()) return {};
    if (it->is_string()) return it->get<std::string>();
    QLS_CHECK(FormatError, it->is_array(), src, ": field 'chat_template' must be a string or a list of "
              "{name, template}, got ", it->type_name());
    for (const auto& entry : *it) {
        QLS_CHECK(FormatError, entry.is_object() && entry.value("name", json()).is_string() &&
                                   entry.value("template", json()).is_string(),
                  src, ": chat_template entries must be {\"name\": string, \"template\": string}, got ", entry.dump());
        if (entry["name"] == "default") return entry["template"].get<std::string>();
    }
    return {};  // named templates only: none is the default
}

}  // namespace

TokenizerConfig parse_tokenizer_config(std::string_view json_text, std::string_view src) {
    json cfg;
    try {
        cfg = json::parse(json_text);
    } catch (const json::exception& e) {
        throw FormatError(str_cat(src, ": not valid JSON: ", e.what()));
    }
    QLS_CHECK(FormatError, cfg.is_object(), src, ": expected a JSON object, got ", cfg.type_name());
    TokenizerConfig c;
    c.bos_token = token_field(cfg, "bos_token", src);
    c.eos_token = token_field(cfg, "eos_token", src);
    c.pad_token = token_field(cfg, "pad_token", src);
    c.unk_token = token_field(cfg, "unk_token", src);
    c.add_bos_token = bool_field(cfg, "add_bos_token", src);
    c.add_eos_token = bool_field(cfg, "add_eos_token", src);
    c.chat_template = chat_template_field(cfg, src);
    if (auto it = cfg.find("model_max_length"); it != cfg.end() && !it->is_null()) {
        QLS_CHECK(FormatError, it->is_number(), src, ": field 'model_max_length' must be a number, got ", it->dump());
        // transformers writes int(1e30) for "no limit"; it does not fit an int64.
        if (it->is_number_integer() && it->get<double>() < 9.2e18) c.model_max_length = it->get<std::int64_t>();
    }
    return c;
}

std::string read_text_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    QLS_CHECK(IoError, in.good(), "cannot open ", path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    QLS_CHECK(IoError, !in.bad(), "cannot read ", path.string());
    return ss.str();
}

TokenizerConfig load_tokenizer_config(const std::filesystem::path& dir) {
    TokenizerConfig c;
    const auto cfg_path = dir / "tokenizer_config.json";
    if (std::filesystem::exists(cfg_path)) c = parse_tokenizer_config(read_text_file(cfg_path), cfg_path.string());
    const auto jinja = dir / "chat_template.jinja";
    if (std::filesystem::exists(jinja)) c.chat_template = read_text_file(jinja);
    return c;
}

}  // namespace qls
