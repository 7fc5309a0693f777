// Matching as in AddedVocabulary::find_matches: daachorse LeftmostLongest over the token set,
// then single_word / lstrip / rstrip with Rust regex's Unicode \w and \s.
#include "core/tokenizer/added_vocabulary.h"

#include <algorithm>

#include "core/tokenizer/normalizer.h"
#include "core/tokenizer/regex.h"
#include "core/tokenizer/utf8.h"

namespace qls {
namespace {

const Regex& word_char() {
    // Rust regex \w: Alphabetic, M, Nd, Pc, Join_Control.
    static const Regex re(R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}])", "added token matcher");
    return re;
}

std::size_t last_char_start(std::string_view s) {
    std::size_t p = s.size() - 1;
    while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
    return p;
}

bool ends_with_word(std::string_view s) { return !s.empty() && word_char().matches_at_start(s.substr(last_char_start(s))); }
bool starts_with_word(std::string_view s) { return !s.empty() && word_char().matches_at_start(s); }

// Start of the trailing White_Space run of s.
std::size_t trailing_space_start(std::string_view s) {
    std::size_t e = s.size();
    while (e > 0) {
        std::size_t start = last_char_start(s.substr(0, e)), p = start;
        if (!utf8::is_white_space(utf8::next(s, p))) break;
        e = start;
    }
    return e;
}

std::size_t leading_space_length(std::string_view s) {
    std::size_t b = 0;
    while (b < s.size()) {
        std::size_t p = b;
        if (!utf8::is_white_space(utf8::next(s, p))) break;
        b = p;
    }
    return b;
}

}  // namespace

void AddedVocabulary::Trie::insert(std::string_view s, int id) {
    first_byte[static_cast<unsigned char>(s[0])] = true;
    int node = 0;
    for (char c : s) {
        const std::uint64_t key = (static_cast<std::uint64_t>(node) << 8) | static_cast<unsigned char>(c);
        auto it = edges.find(key);
        if (it == edges.end()) {
            it = edges.emplace(key, static_cast<int>(terminal.size())).first;
            terminal.push_back(-1);
        }
        node = it->second;
    }
    terminal[node] = id;
}

std::pair<int, std::size_t> AddedVocabulary::Trie::longest_at(std::string_view text, std::size_t pos) const {
    int node = 0, best = -1;
    std::size_t best_len = 0;
    if (!first_byte[static_cast<unsigned char>(text[pos])]) return {best, best_len};
    for (std::size_t i = pos; i < text.size(); ++i) {
        auto it = edges.find((static_cast<std::uint64_t>(node) << 8) | static_cast<unsigned char>(text[i]));
        if (it == edges.end()) break;
        node = it->second;
        if (terminal[node] >= 0) best = terminal[node], best_len = i + 1 - pos;
    }
    return {best, best_len};
}

void AddedVocabulary::add_tokens(const std::vector<AddedToken>& tokens, const Vocab& model,
                                 const Normalizer* normalizer) {
    const int model_size = static_cast<int>(model.size());
    int next_id = model_size;
    if (!m_by_id.empty()) {
        int max = 0;
        for (const auto& [id, t] : m_by_id) max = std::max(max, id);
        next_id = max >= model_size || model_size == 0 ? max + 1 : model_size;
    }
    for (const auto& t : tokens) {
        if (t.content.empty()) continue;
        int id;
        if (auto it = m_by_content.find(t.content); it != m_by_content.end()) id = it->second;
        else if (auto mid = model.find(t.content)) id = *mid;
        else id = next_id++;
        if (t.normalized && normalizer) {
            std::string normed = normalizer->apply(t.content);
            if (normed != t.content) m_normalized_form[id] = std::move(normed);
        }
        m_by_content[t.content] = id;
        m_by_id[id] = t;
    }
    rebuild();
}

void AddedVocabulary::add_with_ids(std::vector<std::pair<int, AddedToken>> tokens) {
    for (auto& [id, token] : tokens) {
        m_by_content[token.content] = id;
        m_by_id[id] = std::move(token);
    }
    rebuild();
}

void AddedVocabulary::rebuild() {
    m_raw_trie = Trie{};
    m_normalized_trie = Trie{};
    for (const auto& [id, t] : m_by_id) {
        if (t.content.empty()) continue;
        if (!t.normalized) {
            m_raw_trie.insert(t.content, id);
        } else {
            auto it = m_normalized_form.find(id);
            const std::string& pattern = it != m_normalized_form.end() ? it->second : t.content;
            if (!pattern.empty()) m_normalized_trie.insert(pattern, id);
        }
    }
}

void AddedVocabulary::split(std::string_view text, bool normalized_set, std::vector<Segment>& out) const {
    const Trie& trie = normalized_set ? m_normalized_trie : m_raw_trie;
    std::size_t start_offset = 0;  // end of the last emitted segment
    std::size_t pos = 0;           // where the matcher resumes: the end of the last raw match
    while (!trie.empty() && pos < text.size()) {
        const auto [id, len] = trie.longest_at(text, pos);
        if (id < 0) {
            ++pos;
            continue;
        }
        std::size_t start = pos, stop = pos + len;
        pos = stop;
        const AddedToken& t = m_by_id.at(id);
        if (t.single_word) {
            const bool start_space = start == 0 || !ends_with_word(text.substr(0, start));
            const bool stop_space = stop == text.size() || !starts_with_word(text.substr(stop));
            if (!start_space || !stop_space) continue;
        }
        if (t.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
        if (t.rstrip) stop += leading_space_length(text.substr(stop));
        if (start_offset < start) out.push_back({start_offset, start, -1});
        out.push_back({start, stop, id});
        start_offset = stop;
    }
    if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
}

std::optional<int> AddedVocabulary::find(std::string_view content) const {
    auto it = m_by_content.find(content);
    return it == m_by_content.end() ? std::nullopt : std::optional<int>(it->second);
}

const AddedToken* AddedVocabulary::token(int id) const {
    auto it = m_by_id.find(id);
    return it == m_by_id.end() ? nullptr : &it->second;
}

const std::string* AddedVocabulary::decode_form(int id) const {
    if (auto it = m_normalized_form.find(id); it != m_normalized_form.end()) return &it->second;
    const AddedToken* t = token(id);
    return t ? &t->content : nullptr;
}

bool AddedVocabulary::is_special(int id) const {
    const AddedToken* t = token(id);
    // HF checks the content against the special set, so any id whose content is special counts.
    return t && t->special;
}

int AddedVocabulary::id_end() const {
    int end = 0;
    for (const auto& [id, t] : m_by_id) end = std::max(end, id + 1);
    return end;
}

}  // namespace qls
