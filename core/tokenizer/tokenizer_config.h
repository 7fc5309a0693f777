// tokenizer_config.json (formats.md §8.4): the special tokens, BOS/EOS flags and chat template
// that transformers keeps beside tokenizer.json.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace qls {

struct TokenizerConfig {
    std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
    std::optional<bool> add_bos_token, add_eos_token;
    std::string chat_template;                     // "" when none
    std::optional<std::int64_t> model_max_length;  // absent or "unlimited" (1e30) -> nullopt
};

// Parse the JSON text; `source_name` names the file in errors.
TokenizerConfig parse_tokenizer_config(std::string_view json_text, std::string_view source_name);
// A model folder's tokenizer_config.json (if present) and chat_template.jinja (which, as in
// transformers, takes precedence over the "chat_template" key).
TokenizerConfig load_tokenizer_config(const std::filesystem::path& dir);

// Whole file as a string; IoError naming the path when it cannot be read.
std::string read_text_file(const std::filesystem::path& path);

}  // namespace qls
