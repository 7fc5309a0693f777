// The tokenizer as GGUF metadata describes it (formats.md §9.3, "Tokenizer keys"). The GGUF
// reader fills it; the tokenizer builds itself from it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qls {

struct GgufTokenizerData {
    std::string model;  // tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE)
    std::string pre;    // tokenizer.ggml.pre: "default", "llama-bpe", "qwen2", "smollm", "gpt2", ...
    std::vector<std::string> tokens;    // indexed by id
    std::vector<float> scores;          // "llama": one per token
    std::vector<std::int32_t> token_types;  // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    std::vector<std::string> merges;    // "gpt2": "a b" in byte-mapped form
    std::optional<std::int64_t> bos_id, eos_id, unk_id, pad_id;
    std::optional<bool> add_bos, add_eos;
    std::optional<bool> add_space_prefix;  // "llama": prepend "▁" to the text (llama.cpp's default: true)
    std::string chat_template;  // tokenizer.chat_template, may be empty
};

}  // namespace qls
