// `qlora tokenize --chat`: render a chat file's messages with a tokenizer's chat template, the
// way transformers' apply_chat_template(tokenize=False) does.
#pragma once
#include <filesystem>
#include <span>
#include <string>

namespace qls {

class Tokenizer;

// FILE.json is a list of messages or an object with "messages" (the ref chat.json shape).
// Context: messages, the special token strings that are set, add_generation_prompt.
std::string render_chat_file(const Tokenizer& tokenizer, const std::filesystem::path& chat_file,
                             bool add_generation_prompt);
// "1 2 3": ids space-separated.
std::string format_ids(std::span<const int> ids);

}  // namespace qls
