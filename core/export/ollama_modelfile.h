// An Ollama Modelfile for an exported GGUF, named after it (<name>.Modelfile beside <name>.gguf,
// so two exports into one folder keep theirs): FROM the file, a TEMPLATE in Ollama's Go template
// syntax equivalent to the model's Jinja chat template (ChatML, Llama-3, Mistral [INST] and
// Zephyr families), SYSTEM with the system prompt that template writes when a chat has none, and
// PARAMETER stop for each end-of-turn token.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/tokenizer/gguf_tokenizer_data.h"

namespace qls {

enum class ChatFamily : std::uint8_t { None, ChatMl, Llama3, Mistral, Zephyr };

// Recognizes the family by the markers a Jinja chat template writes; None when it has none
// of them (or no template).
ChatFamily chat_family(std::string_view jinja_template);

// "dir/<name>.gguf" -> "dir/<name>.Modelfile".
std::filesystem::path ollama_modelfile_path(const std::filesystem::path& gguf);

// The system prompt the tokenizer's chat template writes when a chat has none (SmolLM2's "You are
// a helpful AI assistant named SmolLM, ..."); "" when it writes none or there is no template.
// Throws FormatError when the template does not parse.
std::string chat_template_default_system(const GgufTokenizerData& tokenizer);

// The Modelfile text. gguf_file: the file name FROM names, beside the Modelfile.
std::string ollama_modelfile(const std::string& gguf_file, const GgufTokenizerData& tokenizer);

// Writes ollama_modelfile_path(gguf) atomically. Throws IoError.
void write_ollama_modelfile(const std::filesystem::path& gguf, const GgufTokenizerData& tokenizer);

}  // namespace qls
