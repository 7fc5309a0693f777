// Mirrors tokenizers' step_decode_stream (tokenizer/mod.rs).
#include "core/tokenizer/stream_decoder.h"

#include "core/tokenizer/tokenizer.h"

namespace qls {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : m_tokenizer(&tokenizer), m_skip_special(skip_special_tokens) {}

std::string StreamDecoder::push(int id) {
    m_ids.push_back(id);
    std::string text;
    try {
        text = m_tokenizer->decode(m_ids, m_skip_special);
    } catch (...) {
        m_ids.pop_back();  // keep the state usable after an unknown id
        throw;
    }
    constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
    const bool unfinished = text.size() >= 3 && text.compare(text.size() - 3, 3, kReplacement) == 0;
    if (text.size() <= m_prefix.size() || unfinished) return {};
    // With byte fallback a later byte can change how earlier ones decode (a lone byte shown as
    // itself becomes U+FFFD once an invalid sequence follows). What was emitted cannot be taken
    // back, so the stream goes on with the text past the old prefix's length rather than fail
    // (tokenizers' DecodeStream returns an error here).
    std::string fresh = text.substr(m_prefix.size());
    const std::size_t new_prefix_index = m_ids.size() - m_prefix_index;
    m_ids.erase(m_ids.begin(), m_ids.begin() + static_cast<std::ptrdiff_t>(m_prefix_index));
    m_prefix = m_tokenizer->decode(m_ids, m_skip_special);
    m_prefix_index = new_prefix_index;
    return fresh;
}

std::string StreamDecoder::flush() {
    std::string text = m_tokenizer->decode(m_ids, m_skip_special);
    std::string rest = text.size() > m_prefix.size() ? text.substr(m_prefix.size()) : std::string();
    m_ids.clear();
    m_prefix.clear();
    m_prefix_index = 0;
    return rest;
}

}  // namespace qls
