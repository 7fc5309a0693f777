// A Tokenizer from GGUF tokenizer metadata (formats.md §9.3), equivalent to the HF tokenizer the
// converter started from: "gpt2" = byte-level BPE with the split regex named by `pre`;
// "llama" = SentencePiece merged by scores as llama.cpp does.
#pragma once
#include "core/tokenizer/gguf_tokenizer_data.h"
#include "core/tokenizer/tokenizer.h"

namespace qls {

// FormatError naming the GGUF key for an unknown model or pre type, or inconsistent arrays.
Tokenizer tokenizer_from_gguf(const GgufTokenizerData& data);

}  // namespace qls
