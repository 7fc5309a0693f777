// What generation starts from: the prompt's token ids and the ids that end the reply.
//
// Plain text is tokenized as is, with BOS when the tokenizer adds one. A chat renders the
// model's chat template with add_generation_prompt=true, as transformers' apply_chat_template;
// without a template, ChatML when the tokenizer has <|im_start|> and <|im_end|>, else plain
// text (chat_prompt_builder.h does the formatting, and multi-turn chats with a context limit).
// BOS is prepended to a chat, as in training (chat_format.h), when the tokenizer adds one and
// the template did not write it.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/conversation.h"
#include "core/model/llama_config.h"

namespace qls {

class Tokenizer;

enum class PromptMode : std::uint8_t { Plain, Chat };

struct GenerationPrompt {
    std::vector<int> ids;
    // Every EOS id of the model config and tokenizer, then the chat template's end-of-turn token
    // (the special token it writes right after an assistant message), without repeats.
    std::vector<int> stop_ids;
    std::string text;    // the text that was tokenized (BOS not included unless the template wrote it)
    std::string format;  // "plain", "model template", "ChatML" (chat_template_choice_name)
};

// One user message in chat mode, or the text itself in plain mode.
GenerationPrompt make_prompt(const Tokenizer& tokenizer, const LlamaConfig& config,
                             std::string_view text, PromptMode mode);
// A conversation so far (ending with a user message, usually) with the generation prompt.
// DataError when the model's template refuses it.
GenerationPrompt make_chat_prompt(const Tokenizer& tokenizer, const LlamaConfig& config,
                                  std::span<const Message> messages);

// `text` tokenized as apply_chat_template does (special tokens matched as text, none added),
// with BOS first when the tokenizer adds one and the text does not start with it.
std::vector<int> tokenize_prompt(const Tokenizer& tokenizer, std::string_view text);

// The EOS ids of config.json (eos_token_id, one or a list) and of the tokenizer.
std::vector<int> eos_token_ids(const Tokenizer& tokenizer, const LlamaConfig& config);

}  // namespace qls
