#include "core/data/chat_format.h"

#include <algorithm>
#include <ctime>

#include "core/data/chat_spans.h"
#include "core/data/named_templates.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"

namespace qls {
namespace {

// The token's string, checked to tokenize to exactly that one id (an added, unsplit token).
std::string require_token(const Tokenizer& tok, std::string_view token, std::string_view template_name) {
    const auto id = tok.token_to_id(token);
    const bool single = id && tok.encode(token, false) == std::vector<int>{*id};
    QLS_CHECK(ConfigError, single, "the ", template_name, " template needs the special token '", token,
              "', which this tokenizer ", id ? "does not treat as one unsplit token" : "does not have",
              "; choose the model's own template or another one");
    return std::string(token);
}

std::string require_special(const Tokenizer& tok, std::optional<int> id, const char* what, std::string_view template_name) {
    QLS_CHECK(ConfigError, id.has_value(), "the ", template_name, " template needs an ", what,
              " token, and this tokenizer has none; choose another template");
    return require_token(tok, tok.id_to_token(*id), template_name);
}

std::vector<std::string> special_strings(const Tokenizer& tok) {
    std::vector<std::string> out;
    for (int id = 0; id < tok.vocab_size(); ++id)
        if (tok.is_special(id)) out.push_back(tok.id_to_token(id));
    return out;
}

bool needs_eos(TemplateKind kind) {
    return kind == TemplateKind::Llama2 || kind == TemplateKind::Alpaca || kind == TemplateKind::Zephyr ||
           kind == TemplateKind::Raw;
}

}  // namespace

bool tokenizer_adds_bos(const Tokenizer& tok) {
    if (!tok.bos_id()) return false;
    if (tok.config().add_bos_token) return *tok.config().add_bos_token;
    const std::vector<int> with = tok.encode("a", true), without = tok.encode("a", false);
    return with.size() > without.size() && with.front() == *tok.bos_id();
}


std::size_t TokenizedExample::trained_tokens() const {
    return std::size_t(std::count(trained.begin(), trained.end(), std::uint8_t{1}));
}

std::string_view template_kind_name(TemplateKind kind) {
    switch (kind) {
        case TemplateKind::ModelTemplate: return "model";
        case TemplateKind::ChatML: return "chatml";
        case TemplateKind::Llama3: return "llama3";
        case TemplateKind::Llama2: return "llama2";
        case TemplateKind::Alpaca: return "alpaca";
        case TemplateKind::Zephyr: return "zephyr";
        case TemplateKind::Raw: return "raw";
    }
    return "model";
}

std::optional<TemplateKind> parse_template_kind(std::string_view name) {
    for (TemplateKind k : {TemplateKind::ModelTemplate, TemplateKind::ChatML, TemplateKind::Llama3, TemplateKind::Llama2,
                           TemplateKind::Alpaca, TemplateKind::Zephyr, TemplateKind::Raw})
        if (template_kind_name(k) == name) return k;
    return std::nullopt;
}

ChatFormat::ChatFormat(TemplateKind kind, const Tokenizer& tokenizer, std::string_view model_template)
    : m_kind(kind), m_tokenizer(&tokenizer), m_add_bos(tokenizer_adds_bos(tokenizer)) {
    const std::string name(template_kind_name(kind));
    for (const std::string& t : named_template_tokens(kind)) require_token(tokenizer, t, name);
    if (kind == TemplateKind::Llama2) m_bos = require_special(tokenizer, tokenizer.bos_id(), "BOS", name);
    else if (tokenizer.bos_id()) m_bos = tokenizer.id_to_token(*tokenizer.bos_id());
    if (needs_eos(kind)) m_eos = require_special(tokenizer, tokenizer.eos_id(), "EOS", name);
    else if (tokenizer.eos_id()) m_eos = tokenizer.id_to_token(*tokenizer.eos_id());
    if (kind != TemplateKind::ModelTemplate) return;
    const std::string_view source = model_template.empty() ? std::string_view(tokenizer.chat_template()) : model_template;
    QLS_CHECK(ConfigError, !source.empty(), "the model has no chat template (tokenizer_config.json chat_template or "
              "chat_template.jinja); choose a named template");
    m_template = with_context("while parsing the model's chat template", [&] { return std::make_unique<ChatTemplate>(source); });
    m_specials = special_strings(tokenizer);
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    m_render_options.now = local;
}

ChatFormat::~ChatFormat() = default;
ChatFormat::ChatFormat(ChatFormat&&) noexcept = default;

std::vector<TextPiece> ChatFormat::render(const Conversation& c) const {
    QLS_CHECK(DataError, !c.plain_text || !m_eos.empty(), "plain text needs an EOS token to end it, and this tokenizer has none");
    if (m_kind != TemplateKind::ModelTemplate || c.plain_text) return named_template_pieces(m_kind, c, m_bos, m_eos);
    nlohmann::ordered_json context = nlohmann::ordered_json::object();
    const TokenizerConfig& cfg = m_tokenizer->config();
    if (cfg.bos_token) context["bos_token"] = *cfg.bos_token;
    if (cfg.eos_token) context["eos_token"] = *cfg.eos_token;
    if (cfg.unk_token) context["unk_token"] = *cfg.unk_token;
    if (cfg.pad_token) context["pad_token"] = *cfg.pad_token;
    const std::vector<Message> messages = messages_for_chat(c);
    return with_context("chat template", [&] {
        return model_template_pieces(*m_template, context, messages, m_specials, m_render_options);
    });
}

TokenizedExample ChatFormat::tokenize(const Conversation& c, bool train_on_inputs) const {
    std::vector<TextPiece> pieces = render(c);
    if (train_on_inputs)
        for (TextPiece& p : pieces) p.trained = true;
    LabeledTokens t = tokenize_pieces(*m_tokenizer, pieces);
    TokenizedExample ex;
    const auto bos = m_tokenizer->bos_id();
    if (m_add_bos && (t.ids.empty() || t.ids.front() != *bos)) {
        ex.ids.push_back(*bos);
        ex.trained.push_back(0);
    }
    ex.ids.insert(ex.ids.end(), t.ids.begin(), t.ids.end());
    ex.trained.insert(ex.trained.end(), t.trained.begin(), t.trained.end());
    if (!ex.trained.empty()) ex.trained[0] = 0;  // nothing precedes the first token to predict it
    ex.full_length = ex.ids.size();
    return ex;
}

}  // namespace qls
