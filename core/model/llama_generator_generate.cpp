#include "core/model/llama_generator_generate.h"

#include <algorithm>
#include <chrono>

#include "core/tokenizer/stream_decoder.h"
#include "core/tokenizer/tokenizer.h"

namespace qls {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::string_view stop_reason_name(StopReason r) {
    switch (r) {
        case StopReason::Eos: return "eos";
        case StopReason::MaxTokens: return "max_tokens";
        case StopReason::Cancelled: return "cancelled";
    }
    return "max_tokens";
}

double GenerationResult::tokens_per_second() const {
    return generation_seconds > 0 ? static_cast<double>(ids.size()) / generation_seconds : 0.0;
}

GenerationResult generate(LlamaGenerator& generator, const Tokenizer& tokenizer,
                          std::span<const int> prompt, const SamplingOptions& options,
                          std::span<const int> stop_ids, const TokenCallback& on_token) {
    Sampler sampler(options);
    QLS_CHECK(DataError, !prompt.empty(), "generation needs a prompt of at least one token");
    const auto prompt_tokens = static_cast<std::int64_t>(prompt.size());
    QLS_CHECK(ConfigError, prompt_tokens <= generator.max_context() - options.max_new_tokens,
              "prompt of ", prompt_tokens, " tokens + max_new_tokens ", options.max_new_tokens,
              " exceeds the context of ", generator.max_context(), " tokens");

    GenerationResult result;
    result.prompt_tokens = prompt_tokens;
    auto start = std::chrono::steady_clock::now();
    std::vector<float> logits = generator.prefill(prompt);
    result.prefill_seconds = seconds_since(start);
    start = std::chrono::steady_clock::now();

    std::vector<int> history(prompt.begin(), prompt.end());
    StreamDecoder decoder(tokenizer);
    for (std::int64_t i = 0;; ++i) {
        const int token = sampler.sample(logits, history);
        if (std::find(stop_ids.begin(), stop_ids.end(), token) != stop_ids.end()) {
            result.stop = StopReason::Eos;
            break;
        }
        result.ids.push_back(token);
        history.push_back(token);
        const std::string piece = decoder.push(token);
        result.text += piece;
        if (on_token && !on_token(token, piece)) {
            result.stop = StopReason::Cancelled;
            break;
        }
        if (i + 1 == options.max_new_tokens) {
            result.stop = StopReason::MaxTokens;
            break;
        }
        logits = generator.step(token);
    }
    result.text += decoder.flush();
    result.generation_seconds = seconds_since(start);
    return result;
}

}  // namespace qls
