#include "core/model/llama_generator_prompt.h"

#include "core/data/chat_format.h"

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/template/chat_template.h"
#include "core/tokenizer/tokenizer.h"

namespace qls {

namespace {

using ojson = nlohmann::ordered_json;

// Written where an assistant message goes, to find what the template puts after one.
constexpr std::string_view kProbe = "\x01qls-end-of-turn-probe\x01";

void add_unique(std::vector<int>& ids, int id) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
}

// Special tokens are matched as text: encode(add_special_tokens=false) as apply_chat_template.
std::vector<int> tokenize(const Tokenizer& tok, std::string_view text) {
    std::vector<int> ids = tok.encode(text, false);
    const auto bos = tok.bos_id();
    if (tokenizer_adds_bos(tok) && (ids.empty() || ids.front() != *bos)) ids.insert(ids.begin(), *bos);
    return ids;
}

std::optional<int> single_token(const Tokenizer& tok, std::string_view text) {
    const auto id = tok.token_to_id(text);
    if (id && tok.encode(text, false) == std::vector<int>{*id}) return id;
    return std::nullopt;
}

ojson template_context(const Tokenizer& tok, std::span<const Message> messages, bool generation_prompt) {
    ojson ctx = ojson::object();
    const TokenizerConfig& cfg = tok.config();
    if (cfg.bos_token) ctx["bos_token"] = *cfg.bos_token;
    if (cfg.eos_token) ctx["eos_token"] = *cfg.eos_token;
    if (cfg.unk_token) ctx["unk_token"] = *cfg.unk_token;
    if (cfg.pad_token) ctx["pad_token"] = *cfg.pad_token;
    ojson list = ojson::array();
    for (const Message& m : messages) list.push_back(ojson{{"role", role_name(m.role)}, {"content", m.content}});
    ctx["messages"] = std::move(list);
    ctx["add_generation_prompt"] = generation_prompt;
    return ctx;
}

// The special token the template writes right after an assistant message (after whitespace
// at most): <|eot_id|>, <|im_end|>, </s>, <end_of_turn>. None when it writes plain text there
// or refuses the probe conversation.
std::optional<int> end_of_turn_token(const Tokenizer& tok, const ChatTemplate& tmpl) {
    const Message probe[] = {{Role::User, "Hi"}, {Role::Assistant, std::string(kProbe)}};
    std::string text;
    try {
        text = tmpl.render(template_context(tok, probe, false));
    } catch (const DataError&) {
        return std::nullopt;  // the template's own rules; the EOS ids still stop generation
    }
    std::size_t at = text.find(kProbe);
    if (at == std::string::npos) return std::nullopt;
    at = text.find_first_not_of(" \t\r\n", at + kProbe.size());
    if (at == std::string::npos) return std::nullopt;
    std::optional<int> best;
    std::size_t best_length = 0;
    for (int id = 0; id < tok.vocab_size(); ++id) {
        if (!tok.is_special(id)) continue;
        const std::string s = tok.id_to_token(id);
        if (s.size() > best_length && text.compare(at, s.size(), s) == 0) {
            best = id;
            best_length = s.size();
        }
    }
    return best;
}

GenerationPrompt plain_prompt(const Tokenizer& tok, const LlamaConfig& config, std::string text) {
    GenerationPrompt p;
    p.ids = tokenize(tok, text);
    p.stop_ids = eos_token_ids(tok, config);
    p.text = std::move(text);
    p.format = "plain";
    return p;
}

}  // namespace

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
    GenerationPrompt p;
    p.stop_ids = eos_token_ids(tokenizer, config);
    if (!tokenizer.chat_template().empty()) {
        const ChatTemplate tmpl = with_context("while parsing the model's chat template",
                                               [&] { return ChatTemplate(tokenizer.chat_template()); });
        p.text = with_context("chat template", [&] { return tmpl.render(template_context(tokenizer, messages, true)); });
        if (const auto eot = end_of_turn_token(tokenizer, tmpl)) add_unique(p.stop_ids, *eot);
        p.format = "model template";
    } else if (const auto end = single_token(tokenizer, "<|im_end|>"); end && single_token(tokenizer, "<|im_start|>")) {
        for (const Message& m : messages)
            p.text += "<|im_start|>" + std::string(role_name(m.role)) + "\n" + m.content + "<|im_end|>\n";
        p.text += "<|im_start|>assistant\n";
        add_unique(p.stop_ids, *end);
        p.format = "ChatML";
    } else {
        std::string text;
        for (const Message& m : messages) text += (text.empty() ? "" : "\n\n") + m.content;
        return plain_prompt(tokenizer, config, std::move(text));
    }
    p.ids = tokenize(tokenizer, p.text);
    return p;
}

}  // namespace qls
