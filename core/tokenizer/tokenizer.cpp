// Encode follows TokenizerImpl::encode_single_sequence: added tokens are split out of the raw
// text, each remaining piece is normalized (then split on normalized added tokens), pre-
// tokenized and handed word by word to the model; the post-processor runs last.
#include "core/tokenizer/tokenizer.h"

#include <algorithm>

#include "core/tokenizer/utf8.h"
#include "core/util/error.h"

namespace qls {

Tokenizer::Tokenizer(Parts parts) : m_parts(std::move(parts)) {
    QLS_ASSERT(m_parts.model != nullptr, "tokenizer without a model");
}

void Tokenizer::encode_text(std::string text, bool at_origin, std::vector<int>& ids) const {
    if (text.empty()) return;
    thread_local std::vector<Piece> pieces;
    pieces.clear();
    pieces.push_back({std::move(text), at_origin});
    m_parts.pre_tokenizer.apply(pieces);
    for (const auto& p : pieces) m_parts.model->encode_word(p.text, ids);
}

std::vector<int> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
    const std::size_t bad = utf8::find_invalid(text);
    QLS_CHECK(DataError, bad == std::string_view::npos, "text to tokenize is not valid UTF-8 at byte offset ", bad);
    std::vector<int> ids;
    std::vector<Segment> raw, normalized;
    m_parts.added.split(text, false, raw);
    for (const auto& seg : raw) {
        if (seg.id >= 0) {
            ids.push_back(seg.id);
            continue;
        }
        std::string norm = m_parts.normalizer.apply(text.substr(seg.begin, seg.end - seg.begin));
        if (!m_parts.added.has_normalized()) {
            encode_text(std::move(norm), seg.begin == 0, ids);
            continue;
        }
        normalized.clear();
        m_parts.added.split(norm, true, normalized);
        for (const auto& sub : normalized) {
            if (sub.id >= 0) ids.push_back(sub.id);
            else encode_text(norm.substr(sub.begin, sub.end - sub.begin), seg.begin == 0 && sub.begin == 0, ids);
        }
    }
    if (!add_special_tokens || m_parts.post_processor.identity()) return ids;
    std::vector<int> out;
    m_parts.post_processor.apply(ids, out);
    return out;
}

const std::string* Tokenizer::token_string(int id) const {
    if (const std::string* s = m_parts.added.decode_form(id)) return s;
    return m_parts.model->vocab().token(id);
}

std::string Tokenizer::decode(std::span<const int> ids, bool skip_special_tokens) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const std::string* s = token_string(ids[i]);
        QLS_CHECK(DataError, s != nullptr, "token id ", ids[i], " at position ", i, " is not in the vocabulary (",
                  vocab_size(), " ids)");
        if (skip_special_tokens && is_special(ids[i])) continue;
        tokens.push_back(*s);
    }
    return m_parts.decoder.decode(std::move(tokens));
}

int Tokenizer::vocab_size() const { return std::max(m_parts.model->vocab().id_end(), m_parts.added.id_end()); }

std::optional<int> Tokenizer::token_to_id(std::string_view token) const {
    if (auto id = m_parts.added.find(token)) return id;
    return m_parts.model->vocab().find(token);
}

std::string Tokenizer::id_to_token(int id) const {
    if (const AddedToken* t = m_parts.added.token(id)) return t->content;
    const std::string* s = m_parts.model->vocab().token(id);
    QLS_CHECK(DataError, s != nullptr, "token id ", id, " is not in the vocabulary (", vocab_size(), " ids)");
    return *s;
}

bool Tokenizer::is_special(int id) const {
    // HF compares the token's string with the special set, so a model token spelled like a
    // special added token is special too.
    if (m_parts.added.is_special(id)) return true;
    const std::string* s = m_parts.model->vocab().token(id);
    if (!s) return false;
    auto added = m_parts.added.find(*s);
    return added && m_parts.added.is_special(*added);
}

void Tokenizer::apply_config(const TokenizerConfig& config) {
    m_config = config;
    auto resolve = [&](const std::optional<std::string>& tok, const char* field) -> std::optional<int> {
        if (!tok) return std::nullopt;
        auto id = token_to_id(*tok);
        QLS_CHECK(FormatError, id.has_value(), "tokenizer_config.json: ", field, " '", *tok,
                  "' is neither in the vocabulary nor an added token");
        return id;
    };
    m_bos = resolve(config.bos_token, "bos_token");
    m_eos = resolve(config.eos_token, "eos_token");
    m_pad = resolve(config.pad_token, "pad_token");
    m_unk = resolve(config.unk_token, "unk_token");
}

void Tokenizer::set_special_ids(std::optional<int> bos, std::optional<int> eos, std::optional<int> pad,
                                std::optional<int> unk) {
    m_bos = bos, m_eos = eos, m_pad = pad, m_unk = unk;
}

void Tokenizer::set_text_pipeline(Normalizer normalizer, PreTokenizer pre_tokenizer) {
    m_parts.normalizer = std::move(normalizer);
    m_parts.pre_tokenizer = std::move(pre_tokenizer);
}

std::string Tokenizer::summary() const {
    auto show = [&](const char* name, std::optional<int> id) {
        return id ? str_cat(", ", name, " ", id_to_token(*id), " (", *id, ")") : std::string();
    };
    return str_cat(m_parts.kind, ", vocab ", vocab_size(), ", ", m_parts.added.size(), " added tokens",
                   show("bos", m_bos), show("eos", m_eos), show("pad", m_pad), show("unk", m_unk),
                   m_config.chat_template.empty() ? "" : ", chat template");
}

}  // namespace qls
