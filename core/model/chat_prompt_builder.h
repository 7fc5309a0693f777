// A multi-turn chat as the prompt the model sees next: an optional system prompt, the earlier
// exchanges and the new user message, formatted
//   - by the model's chat template with add_generation_prompt=true, as transformers'
//     apply_chat_template;
//   - by a named template (chat_format.h) laid out exactly as training renders it, cut where the
//     assistant's reply begins, so an adapter is prompted the way it was trained;
//   - or as plain text: the contents joined by blank lines, no roles.
// When the prompt and the reply budget exceed the model's context, the oldest exchanges are
// left out (the system prompt and the new message always stay) and the result says how many.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/chat_format.h"
#include "core/model/llama_generator_prompt.h"

namespace qls {

class Tokenizer;

// A chat's formatting: a chat template (the model's own or a named one), or nullopt: plain text.
using ChatTemplateChoice = std::optional<TemplateKind>;

// "model template", "ChatML", "Llama 3", "Llama 2", "Alpaca", "Zephyr", "raw", "plain".
std::string chat_template_choice_name(ChatTemplateChoice choice);

// The formatting when the user chose none: the template a run trained with, else the model's
// own, else ChatML when the tokenizer has its tokens, else plain text.
ChatTemplateChoice default_chat_template(const Tokenizer& tokenizer, std::optional<TemplateKind> trained_with = {});

struct ChatExchange {
    std::string user;
    // nullopt: no reply on this side (it did not run, or failed); the exchange is left out of
    // the prompt, so the roles still alternate as strict templates demand.
    std::optional<std::string> reply;
};

struct ChatRequest {
    std::string system;                 // "" for none (the template may write its default)
    std::vector<ChatExchange> history;  // oldest first
    std::string message;                // the user message to answer
    std::int64_t max_new_tokens = 0;
    std::int64_t context = 0;           // tokens the model attends to; 0: no limit
};

struct ChatPrompt {
    GenerationPrompt prompt;
    std::size_t dropped_exchanges = 0;  // oldest replied exchanges left out to fit the context
};

class ChatPromptBuilder {
public:
    // ConfigError when the choice is the model's template and it has none, or a named template
    // the tokenizer cannot serve; FormatError when the model's template does not parse. The
    // tokenizer must outlive the builder.
    ChatPromptBuilder(const Tokenizer& tokenizer, const LlamaConfig& config, ChatTemplateChoice choice);
    ~ChatPromptBuilder();
    ChatPromptBuilder(ChatPromptBuilder&&) noexcept;

    ChatTemplateChoice choice() const { return m_choice; }
    // What the formatting is, for the user to read: the model template's Jinja source, a named
    // template's rendering of an example chat, or what plain text does.
    const std::string& source() const { return m_source; }
    // The system prompt the formatting writes when given none (Qwen2's "You are a helpful
    // assistant.", Alpaca's preamble); "" when it writes none.
    const std::string& default_system() const { return m_default_system; }

    // `messages` (ending with a user message) with the generation prompt. DataError when the
    // template refuses them.
    GenerationPrompt prompt(std::span<const Message> messages) const;
    // The request's messages with the oldest exchanges left out as the context needs.
    // ConfigError when the system prompt and the new message alone leave no room for the reply.
    ChatPrompt build(const ChatRequest& request) const;

private:
    std::string render(std::span<const Message> messages) const;
    std::string find_default_system() const;

    const Tokenizer* m_tokenizer;
    ChatTemplateChoice m_choice;
    std::unique_ptr<ChatTemplate> m_template;  // the model's template
    std::unique_ptr<ChatFormat> m_named;       // a named template
    std::vector<int> m_stop_ids;
    std::string m_source, m_default_system;
};

}  // namespace qls
