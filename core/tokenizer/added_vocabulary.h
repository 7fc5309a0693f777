// Added tokens (formats.md §8.4; tokenizers tokenizer/added_vocabulary.rs): matched leftmost-
// longest before the model sees the text, never split. Tokens with normalized=false match the
// raw input; normalized=true ones match the normalizer's output.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/tokenizer/vocab.h"

namespace qls {

class Normalizer;

struct AddedToken {
    std::string content;
    bool single_word = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = false;
    bool special = false;
};

// A stretch of text: either plain text [begin, end) or one added token `id`.
struct Segment {
    std::size_t begin, end;
    int id;  // -1: plain text
};

class AddedVocabulary {
public:
    // AddedVocabulary::add_tokens: ids come from the model vocab when the content is there,
    // else count up from the model's size (the JSON "id" is only advisory in HF).
    void add_tokens(const std::vector<AddedToken>& tokens, const Vocab& model, const Normalizer* normalizer);
    // GGUF: the ids are given.
    void add_with_ids(std::vector<std::pair<int, AddedToken>> tokens);

    // Split text into segments with the raw (normalized=false) or normalized token set.
    void split(std::string_view text, bool normalized_set, std::vector<Segment>& out) const;
    bool has_normalized() const { return !m_normalized_trie.empty(); }

    std::optional<int> find(std::string_view content) const;
    const AddedToken* token(int id) const;
    // The string the decoder sees: the normalized form for normalized tokens.
    const std::string* decode_form(int id) const;
    bool is_special(int id) const;
    int id_end() const;  // one past the largest id
    std::size_t size() const { return m_by_id.size(); }

private:
    struct Trie {
        std::unordered_map<std::uint64_t, int> edges;  // (node << 8 | byte) -> node
        std::vector<int> terminal{-1};                 // node -> token id, -1 none
        std::vector<bool> first_byte = std::vector<bool>(256, false);  // some token starts with it
        bool empty() const { return terminal.size() == 1; }
        void insert(std::string_view s, int id);
        // Longest token starting at text[pos]: (id, length) or id -1.
        std::pair<int, std::size_t> longest_at(std::string_view text, std::size_t pos) const;
    };
    void rebuild();

    std::unordered_map<int, AddedToken> m_by_id;
    std::unordered_map<int, std::string> m_normalized_form;
    StringMap<int> m_by_content;
    Trie m_raw_trie, m_normalized_trie;
};

}  // namespace qls
