// llama.cpp's SentencePiece tokenizer (llm_tokenizer_spm_session in llama-vocab.cpp), used for
// GGUF files with tokenizer.ggml.model = "llama": merges are implied by scores.
#pragma once
#include <array>
#include <optional>
#include <string_view>
#include <vector>

#include "core/tokenizer/vocab.h"

namespace qls {

class SpmModel final : public TokenModel {
public:
    // tokens and scores indexed by id; byte_ids[b] is the id of the <0xXX> token (or -1).
    SpmModel(Vocab vocab, std::vector<float> scores, std::array<int, 256> byte_ids,
             std::optional<int> unk_id);
    // Starting from UTF-8 characters, repeatedly merge the adjacent pair whose concatenation is
    // the vocab token with the highest score (ties: leftmost). Symbols that are not tokens
    // fall back to byte tokens.
    void encode_word(std::string_view word, std::vector<int>& out) const override;
    const Vocab& vocab() const override { return m_vocab; }

private:
    void emit_bytes(std::string_view text, std::vector<int>& out) const;

    Vocab m_vocab;
    std::vector<float> m_scores;
    std::array<int, 256> m_byte_ids;
    std::optional<int> m_unk_id;
};

}  // namespace qls
