#include "core/model/llama_generator_prompt.h"

#include <algorithm>

#include "core/data/chat_format.h"
#include "core/model/chat_prompt_builder.h"
#include "core/tokenizer/tokenizer.h"

namespace qls {

namespace {

GenerationPrompt plain_prompt(const Tokenizer& tok, const LlamaConfig& config, std::string text) {
    GenerationPrompt p;
    p.ids = tokenize_prompt(tok, text);
    p.stop_ids = eos_token_ids(tok, config);
    p.text = std::move(text);
    p.format = "plain";
    return p;
}

void add_unique(std::vector<int>& ids, int id) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
}

}  // namespace

// Special tokens are matched as text: encode(add_special_tokens=false) as apply_chat_template.
std::vector<int> tokenize_prompt(const Tokenizer& tokenizer, std::string_view text) {
    std::vector<int> ids = tokenizer.encode(text, false);
    const auto bos = tokenizer.bos_id();
    if (tokenizer_adds_bos(tokenizer) && (ids.empty() || ids.front() != *bos)) ids.insert(ids.begin(), *bos);
    return ids;
}

std::vector<int> eos_token_ids(const Tokenizer& tokenizer, const LlamaConfig& config) {
    std::vector<int> ids;
    for (std::int64_t id : config.eos_token_ids) add_unique(ids, static_cast<int>(id));
    if (tokenizer.eos_id()) add_unique(ids, *tokenizer.eos_id());
    return ids;
}

GenerationPrompt make_prompt(const Tokenizer& tokenizer, const LlamaConfig& config,
                             std::string_view text, PromptMode mode) {
    if (mode == PromptMode::Plain) return plain_prompt(tokenizer, config, std::string(text));
    const Message user{Role::User, std::string(text)};
    return make_chat_prompt(tokenizer, config, std::span(&user, 1));
}

GenerationPrompt make_chat_prompt(const Tokenizer& tokenizer, const LlamaConfig& config,
                                  std::span<const Message> messages) {
    return ChatPromptBuilder(tokenizer, config, default_chat_template(tokenizer)).prompt(messages);
}

}  // namespace qls
