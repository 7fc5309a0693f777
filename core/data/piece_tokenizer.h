// Tokenizing a rendered conversation while knowing which tokens came from which piece of text.
//
// Tokenizing pieces one by one and concatenating the ids is not the tokenization of the whole
// text: BPE merges across a boundary ("\n" + "\nHi" vs "\n\n" + "Hi"), and SentencePiece
// normalizers prepend "▁" at the start of every separately tokenized piece. So the ids are
// always those of the whole text (what inference sees when it re-tokenizes a conversation),
// and the labels come from tokenizing each prefix that ends at a label change: the tokens the
// prefix shares with the whole text belong to the pieces before the boundary, the rest to
// those after. When a token straddles a boundary (the prefix's last token is not one of the
// whole text's), it goes to the later piece and is counted in `straddles`. For special-token
// boundaries (every end-of-turn marker, every header) the two tokenizations agree exactly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace qls {

class Tokenizer;

struct TextPiece {
    std::string text;
    bool trained = false;
};

struct LabeledTokens {
    std::vector<std::int32_t> ids;
    std::vector<std::uint8_t> trained;  // 1 where the token is a label the loss sees
    std::size_t straddles = 0;          // boundaries a token crossed
};

// Tokenizes the concatenation of `pieces` without added special tokens (the post-processor's
// BOS is the caller's decision). Throws DataError when the text is not valid UTF-8.
LabeledTokens tokenize_pieces(const Tokenizer& tokenizer, std::span<const TextPiece> pieces);

}  // namespace qls
