// An Ollama Modelfile for an exported GGUF: FROM the file, a TEMPLATE in Ollama's Go template
// syntax equivalent to the model's Jinja chat template (ChatML, Llama-3, Mistral [INST] and
// Zephyr families), and PARAMETER stop for each end-of-turn token.
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

// The Modelfile text. gguf_file: the path FROM names, relative to the Modelfile.
std::string ollama_modelfile(const std::string& gguf_file, const GgufTokenizerData& tokenizer);

// Writes it atomically. Throws IoError.
void write_ollama_modelfile(const std::filesystem::path& path, const std::string& gguf_file,
                            const GgufTokenizerData& tokenizer);

}  // namespace qls
