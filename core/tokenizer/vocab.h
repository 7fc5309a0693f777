// A model vocabulary: token string <-> id, with gaps allowed in the id range.
#pragma once
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qls {

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// Ids above this are refused: real vocabularies stay far below, and a hostile file must not make
// us allocate gigabytes.
inline constexpr int kMaxTokenId = 1 << 22;

class Vocab {
public:
    // Throws FormatError (naming `where`) on a negative id or an id given to two tokens.
    void add(std::string token, int id, std::string_view where);
    // GGUF style: ids in order; a repeated string maps to its last id, as in llama.cpp.
    void add_in_order(std::string token);

    std::optional<int> find(std::string_view token) const {
        auto it = m_to_id.find(token);
        return it == m_to_id.end() ? std::nullopt : std::optional<int>(it->second);
    }
    const std::string* token(int id) const {
        return id >= 0 && static_cast<std::size_t>(id) < m_tokens.size() && m_present[id] ? &m_tokens[id] : nullptr;
    }
    std::size_t size() const { return m_to_id.size(); }
    int id_end() const { return static_cast<int>(m_tokens.size()); }  // one past the largest id

private:
    StringMap<int> m_to_id;
    std::vector<std::string> m_tokens;
    std::vector<char> m_present;
};

// Turns one pre-token into ids: the BPE of tokenizer.json or llama.cpp's SentencePiece merge.
class TokenModel {
public:
    virtual ~TokenModel() = default;
    virtual void encode_word(std::string_view word, std::vector<int>& out) const = 0;
    virtual const Vocab& vocab() const = 0;
};

}  // namespace qls
