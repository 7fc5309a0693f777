// load_tokenizer: a tokenizer.json file, or a model folder holding tokenizer.json and
// optionally tokenizer_config.json / chat_template.jinja / config.json.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"

namespace qls {
namespace {

// transformers 5 tokenizes Qwen2-family models with its Qwen2Tokenizer class, which builds its
// own NFC normalizer and Qwen2 split regex instead of the tokenizer.json ones (observed: the
// ref qwen2-tiny chat ids split " 4" although its tokenizer.json uses the GPT-2 regex). Real
// Qwen2 tokenizer.json files already carry this pipeline.
bool is_qwen2_family(const std::filesystem::path& dir) {
    const auto cfg_path = dir / "config.json";
    if (!std::filesystem::exists(cfg_path)) return false;
    const auto cfg = nlohmann::json::parse(read_text_file(cfg_path), nullptr, false);
    if (!cfg.is_object() || !cfg.contains("model_type") || !cfg["model_type"].is_string()) return false;
    const std::string type = cfg["model_type"];
    return type == "qwen2" || type == "qwen2_moe" || type == "qwen3" || type == "qwen3_moe";
}

void use_qwen2_pipeline(Tokenizer& tok) {
    Normalizer normalizer;
    normalizer.add(Normalizer::Nfc{});
    PreTokenizer pre;
    pre.add(PreTokenizer::Split{std::make_shared<const Regex>(kQwen2Pattern, "Qwen2 pre-tokenizer"),
                                SplitBehavior::Isolated, false});
    pre.add(PreTokenizer::ByteLevel{false, false});
    tok.set_text_pipeline(std::move(normalizer), std::move(pre));
}

}  // namespace

Tokenizer load_tokenizer(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    const bool is_dir = fs::is_directory(path);
    const fs::path json_path = is_dir ? path / "tokenizer.json" : path;
    QLS_CHECK(IoError, fs::exists(json_path), "no tokenizer at ", json_path.string(),
              is_dir ? " (the folder has no tokenizer.json)" : "");
    Tokenizer tok = Tokenizer::from_json_string(read_text_file(json_path), json_path.string());
    const fs::path dir = is_dir ? path : json_path.parent_path();
    if (is_dir && tok.kind() == "byte-level BPE" && is_qwen2_family(dir)) use_qwen2_pipeline(tok);
    if (is_dir || fs::exists(dir / "tokenizer_config.json")) {
        with_context(str_cat("while reading the tokenizer config in ", dir.string()),
                     [&] { tok.apply_config(load_tokenizer_config(dir)); });
    }
    return tok;
}

}  // namespace qls
