// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json + config.json) as GGUF
// tokenizer metadata (formats.md §9.3 "Tokenizer keys"), as llama.cpp's convert_hf_to_gguf.py
// and gguf-py's SpecialVocab write it: "gpt2" for byte-level BPE, "llama" for SentencePiece-
// style BPE with byte fallback.
#pragma once
#include <filesystem>

#include "core/export/gguf_writer.h"
#include "core/tokenizer/gguf_tokenizer_data.h"

namespace qls {

// `folder` holds tokenizer.json (required), tokenizer_config.json and config.json (optional).
// vocab_size: the model's embedding rows; ids the tokenizer lacks become "[PAD<i>]" (unused).
// Byte-level pre-tokenizers are named as llama.cpp names them: "llama-bpe" (Llama-3 split
// regex), "qwen2" (also for any Qwen2-family config.json: transformers applies the Qwen2 regex
// to those whatever tokenizer.json says), "smollm" (digits + byte-level), "gpt2" (plain
// byte-level). SentencePiece
// pieces are scored by merge rank (the earliest merge scores highest), so llama.cpp's
// score-driven merging reproduces the BPE merges. Throws FormatError naming the file and field
// for a tokenizer that cannot be expressed in GGUF.
GgufTokenizerData gguf_tokenizer_from_hf(const std::filesystem::path& folder, std::int64_t vocab_size);

// Writes the tokenizer.ggml.* keys and tokenizer.chat_template.
void add_gguf_tokenizer(GgufWriter& w, const GgufTokenizerData& t);

}  // namespace qls
