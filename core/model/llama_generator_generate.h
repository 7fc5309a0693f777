// The generation loop: prefill the prompt, then sample, stream and feed back one token at a
// time until a stop token, the token budget or the caller says stop.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/llama_generator.h"
#include "core/model/sampler.h"

namespace qls {

class Tokenizer;

enum class StopReason : std::uint8_t { Eos, MaxTokens, Cancelled };
std::string_view stop_reason_name(StopReason r);  // "eos", "max_tokens", "cancelled"

struct GenerationResult {
    std::vector<int> ids;  // generated tokens; the stop token that ended generation is not included
    std::string text;      // their decoded text (the streamed pieces, then what the decoder held back)
    StopReason stop = StopReason::MaxTokens;
    std::int64_t prompt_tokens = 0;
    double prefill_seconds = 0;     // the prompt's forward pass
    double generation_seconds = 0;  // sampling and decoding steps after it
    double tokens_per_second() const;  // generated tokens per second of generation
};

// Called once per generated token with the text it completed ("" while a multi-byte
// character is partial); returning false stops generation (StopReason::Cancelled).
using TokenCallback = std::function<bool(int id, std::string_view piece)>;

// Generates after `prompt` (non-empty). ConfigError when the prompt plus max_new_tokens do not
// fit the generator's context, or the options are invalid. Special tokens are decoded as text.
GenerationResult generate(LlamaGenerator& generator, const Tokenizer& tokenizer,
                          std::span<const int> prompt, const SamplingOptions& options,
                          std::span<const int> stop_ids, const TokenCallback& on_token = {});

}  // namespace qls
