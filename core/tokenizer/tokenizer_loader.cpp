// load_tokenizer: a tokenizer.json file, or a model folder holding tokenizer.json and
// optionally tokenizer_config.json / chat_template.jinja.
#include <filesystem>

#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"

namespace qls {

Tokenizer load_tokenizer(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    const bool is_dir = fs::is_directory(path);
    const fs::path json_path = is_dir ? path / "tokenizer.json" : path;
    QLS_CHECK(IoError, fs::exists(json_path), "no tokenizer at ", json_path.string(),
              is_dir ? " (the folder has no tokenizer.json)" : "");
    Tokenizer tok = Tokenizer::from_json_string(read_text_file(json_path), json_path.string());
    const fs::path dir = is_dir ? path : json_path.parent_path();
    if (is_dir || fs::exists(dir / "tokenizer_config.json")) {
        with_context(str_cat("while reading the tokenizer config in ", dir.string()),
                     [&] { tok.apply_config(load_tokenizer_config(dir)); });
    }
    return tok;
}

}  // namespace qls
