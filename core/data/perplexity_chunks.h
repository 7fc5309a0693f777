// Raw-text perplexity the way llama.cpp's llama-perplexity measures it (tools/perplexity/
// perplexity.cpp, perplexity()), so that its figures and ours compare directly: the text's
// tokens (with BOS when the tokenizer adds one) cut into ctx-token chunks, the tail that fills
// no chunk dropped; each chunk's first token replaced by BOS only when the tokenizer adds BOS
// (llama.cpp: `if (add_bos && j == 0)`, add_bos = llama_vocab_get_add_bos), else left as is;
// only the second half scored: positions ctx/2 .. ctx-2 predict their next token, so every
// scored token sees at least ctx/2 tokens of context. Perplexity = exp(mean NLL over the scored
// tokens).
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/data/batch.h"

namespace qls {

class Tokenizer;

// The BOS that starts each chunk: the tokenizer's BOS when encoding with special tokens prepends
// it (HF: the post-processor; GGUF: tokenizer.ggml.add_bos_token), else nullopt.
std::optional<int> perplexity_bos(const Tokenizer& tokenizer);

// Batches of up to `rows` chunks each; `bos` as perplexity_bos gives it. DataError when the tokens fill fewer than two chunks
// (llama.cpp refuses those too); ConfigError for ctx < 4 or rows < 1.
std::vector<Batch> perplexity_chunks(std::span<const int> tokens, std::int64_t ctx, std::optional<int> bos,
                                     std::int64_t rows = 1);

}  // namespace qls
