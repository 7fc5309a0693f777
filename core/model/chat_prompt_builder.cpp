#include "core/model/chat_prompt_builder.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/template/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"

namespace qls {
namespace {

using ojson = nlohmann::ordered_json;

// Written where an assistant message or a system prompt goes, to find what the template puts
// around it.
constexpr std::string_view kProbe = "\x01qls-probe\x01";

void add_unique(std::vector<int>& ids, int id) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
}

std::optional<int> single_token(const Tokenizer& tok, std::string_view text) {
    const auto id = tok.token_to_id(text);
    if (id && tok.encode(text, false) == std::vector<int>{*id}) return id;
    return std::nullopt;
}

std::string trim(std::string_view s) {
    const std::size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return {};
    return std::string(s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1));
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

// A named template renders whole conversations; the prompt is everything before the reply:
// the conversation with an empty assistant turn, cut before that turn's trained piece (the
// empty reply and the end-of-turn marker after it).
struct NamedRender {
    std::vector<TextPiece> pieces;
    std::size_t reply = 0;  // index of the reply's piece
};

NamedRender render_named(const ChatFormat& format, std::span<const Message> messages) {
    Conversation c;
    c.messages.assign(messages.begin(), messages.end());
    c.messages.push_back({Role::Assistant, ""});
    NamedRender r{format.render(c), 0};
    const auto last = std::find_if(r.pieces.rbegin(), r.pieces.rend(), [](const TextPiece& p) { return p.trained; });
    QLS_ASSERT(last != r.pieces.rend(), "named template: no trained piece for an assistant turn");
    r.reply = std::size_t(r.pieces.rend() - last) - 1;
    return r;
}

// What the empty reply's piece holds is the end-of-turn marker training taught.
std::optional<int> named_end_of_turn(const Tokenizer& tok, const ChatFormat& format) {
    const Message user{Role::User, "Hi"};
    const NamedRender r = render_named(format, std::span(&user, 1));
    return single_token(tok, trim(r.pieces[r.reply].text));
}

constexpr std::string_view kPlainSource =
    "Plain text: the system prompt and the messages joined by blank lines, without roles; the model "
    "continues the text.";

}  // namespace

std::string chat_template_choice_name(ChatTemplateChoice choice) {
    if (!choice) return "plain";
    switch (*choice) {
        case TemplateKind::ModelTemplate: return "model template";
        case TemplateKind::ChatML: return "ChatML";
        case TemplateKind::Llama3: return "Llama 3";
        case TemplateKind::Llama2: return "Llama 2";
        case TemplateKind::Alpaca: return "Alpaca";
        case TemplateKind::Zephyr: return "Zephyr";
        case TemplateKind::Raw: return "raw";
    }
    return "plain";
}

ChatTemplateChoice default_chat_template(const Tokenizer& tokenizer, std::optional<TemplateKind> trained_with) {
    const bool has_template = !tokenizer.chat_template().empty();
    if (trained_with && (*trained_with != TemplateKind::ModelTemplate || has_template)) return trained_with;
    if (has_template) return TemplateKind::ModelTemplate;
    if (single_token(tokenizer, "<|im_start|>") && single_token(tokenizer, "<|im_end|>")) return TemplateKind::ChatML;
    return std::nullopt;
}

ChatPromptBuilder::ChatPromptBuilder(const Tokenizer& tokenizer, const LlamaConfig& config, ChatTemplateChoice choice)
    : m_tokenizer(&tokenizer), m_choice(choice), m_stop_ids(eos_token_ids(tokenizer, config)) {
    if (choice == TemplateKind::ModelTemplate) {
        QLS_CHECK(ConfigError, !tokenizer.chat_template().empty(), "the model has no chat template "
                  "(tokenizer_config.json chat_template or chat_template.jinja); choose a named template or plain text");
        m_template = with_context("while parsing the model's chat template",
                                  [&] { return std::make_unique<ChatTemplate>(tokenizer.chat_template()); });
        if (const auto eot = end_of_turn_token(tokenizer, *m_template)) add_unique(m_stop_ids, *eot);
        m_source = tokenizer.chat_template();
    } else if (choice) {
        m_named = std::make_unique<ChatFormat>(*choice, tokenizer);
        if (const auto eot = named_end_of_turn(tokenizer, *m_named)) add_unique(m_stop_ids, *eot);
        const Message example[] = {{Role::System, "{system}"}, {Role::User, "{user}"},
                                   {Role::Assistant, "{assistant}"}, {Role::User, "{user}"}};
        m_source = render(example);
    } else {
        m_source = kPlainSource;
    }
    m_default_system = find_default_system();
}

ChatPromptBuilder::~ChatPromptBuilder() = default;
ChatPromptBuilder::ChatPromptBuilder(ChatPromptBuilder&&) noexcept = default;

std::string ChatPromptBuilder::render(std::span<const Message> messages) const {
    if (m_template)
        return with_context("chat template", [&] { return m_template->render(template_context(*m_tokenizer, messages, true)); });
    if (m_named) {
        const NamedRender r = render_named(*m_named, messages);
        std::string text;
        for (std::size_t i = 0; i < r.reply; ++i) text += r.pieces[i].text;
        return text;
    }
    std::string text;
    for (const Message& m : messages) text += (text.empty() ? "" : "\n\n") + m.content;
    return text;
}

// The template's text with a probe system prompt and without one: when the two agree around
// the probe, what stands in its place without one is the default.
std::string ChatPromptBuilder::find_default_system() const {
    const Message with[] = {{Role::System, std::string(kProbe)}, {Role::User, "Hi"}};
    std::string without, probed;
    try {
        without = render(std::span(with).subspan(1));
        probed = render(with);
    } catch (const DataError&) {
        return {};  // a template that refuses a system prompt has no default either
    }
    const std::size_t at = probed.find(kProbe);
    if (at == std::string::npos) return {};
    const std::string_view before = std::string_view(probed).substr(0, at);
    const std::string_view after = std::string_view(probed).substr(at + kProbe.size());
    if (without.size() < before.size() + after.size() || !without.starts_with(before) || !without.ends_with(after))
        return {};
    return without.substr(before.size(), without.size() - before.size() - after.size());
}

GenerationPrompt ChatPromptBuilder::prompt(std::span<const Message> messages) const {
    GenerationPrompt p;
    p.text = render(messages);
    p.ids = tokenize_prompt(*m_tokenizer, p.text);
    p.stop_ids = m_stop_ids;
    p.format = chat_template_choice_name(m_choice);
    return p;
}

ChatPrompt ChatPromptBuilder::build(const ChatRequest& request) const {
    std::vector<const ChatExchange*> replied;
    for (const ChatExchange& e : request.history)
        if (e.reply) replied.push_back(&e);
    const auto attempt = [&](std::size_t drop) {
        std::vector<Message> messages;
        if (!request.system.empty()) messages.push_back({Role::System, request.system});
        for (std::size_t i = drop; i < replied.size(); ++i) {
            messages.push_back({Role::User, replied[i]->user});
            messages.push_back({Role::Assistant, *replied[i]->reply});
        }
        messages.push_back({Role::User, request.message});
        return prompt(messages);
    };
    const auto fits = [&](const GenerationPrompt& p) {
        return request.context <= 0 || std::int64_t(p.ids.size()) + request.max_new_tokens <= request.context;
    };
    GenerationPrompt full = attempt(0);
    if (fits(full)) return {std::move(full), 0};
    GenerationPrompt shortest = attempt(replied.size());
    QLS_CHECK(ConfigError, fits(shortest), request.system.empty() ? "the new message takes " : "the system prompt and the new message take ",
              shortest.ids.size(), " tokens; with ", request.max_new_tokens, " new tokens they exceed the model's context of ",
              request.context, " tokens: shorten ", request.system.empty() ? "it" : "them", " or lower the max new tokens");
    // Fewest exchanges dropped that fit: dropping more never lengthens the prompt.
    std::size_t lo = 0, hi = replied.size();
    while (hi - lo > 1) {
        const std::size_t mid = lo + (hi - lo) / 2;
        GenerationPrompt p = attempt(mid);
        if (fits(p)) {
            hi = mid;
            shortest = std::move(p);
        } else {
            lo = mid;
        }
    }
    return {std::move(shortest), hi};
}

}  // namespace qls
