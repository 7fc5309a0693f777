// Mirrors llm_tokenizer_spm_session::tokenize / try_add_bigram / resegment. Merged symbols are
// always vocab tokens, so resegmenting reduces to "token, else its bytes".
#include "core/tokenizer/spm_model.h"

#include <queue>
#include <string>

#include "core/tokenizer/utf8.h"
#include "core/util/error.h"

namespace qls {

SpmModel::SpmModel(Vocab vocab, std::vector<float> scores, std::array<int, 256> byte_ids,
                   std::optional<int> unk_id)
    : m_vocab(std::move(vocab)), m_scores(std::move(scores)), m_byte_ids(byte_ids), m_unk_id(unk_id) {}

void SpmModel::emit_bytes(std::string_view text, std::vector<int>& out) const {
    for (char c : text) {
        const auto b = static_cast<unsigned char>(c);
        int id = m_byte_ids[b];
        // llama.cpp's byte_to_token falls back to the one-byte string token.
        if (id < 0) id = m_vocab.find(std::string(1, c)).value_or(m_unk_id.value_or(-1));
        QLS_CHECK(DataError, id >= 0, "SentencePiece vocab has no token for byte 0x", std::hex,
                  static_cast<int>(b), " and no unknown token");
        out.push_back(id);
    }
}

void SpmModel::encode_word(std::string_view text, std::vector<int>& out) const {
    struct Symbol {
        std::size_t begin, len;
        int prev, next;
    };
    struct Bigram {
        float score;
        int left, right;
        std::size_t size;
    };
    // llama.cpp's comparator: highest score first, then the smaller left index.
    auto worse = [](const Bigram& l, const Bigram& r) {
        return l.score < r.score || (l.score == r.score && l.left > r.left);
    };
    std::vector<Symbol> sym;
    for (std::size_t pos = 0; pos < text.size();) {
        const std::size_t n = std::min(utf8::sequence_length(static_cast<unsigned char>(text[pos])), text.size() - pos);
        const int idx = static_cast<int>(sym.size());
        sym.push_back({pos, n, idx - 1, pos + n == text.size() ? -1 : idx + 1});
        pos += n;
    }
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
    auto try_add = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const std::string_view merged = text.substr(sym[left].begin, sym[left].len + sym[right].len);
        const auto id = m_vocab.find(merged);
        if (!id || static_cast<std::size_t>(*id) >= m_scores.size()) return;
        queue.push({m_scores[*id], left, right, merged.size()});
    };
    for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol& l = sym[b.left];
        Symbol& r = sym[b.right];
        if (l.len == 0 || r.len == 0 || l.len + r.len != b.size) continue;
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) sym[r.next].prev = b.left;
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }
    for (int i = sym.empty() ? -1 : 0; i != -1; i = sym[i].next) {
        const std::string_view piece = text.substr(sym[i].begin, sym[i].len);
        if (auto id = m_vocab.find(piece)) out.push_back(*id);
        else emit_bytes(piece, out);
    }
}

}  // namespace qls
