// Normalizers of tokenizer.json that we support (tokenizers normalizers/{prepend,replace,strip,
// byte_level,unicode,utils}.rs). A Sequence is flattened into `steps`.
#pragma once
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/tokenizer/regex.h"

namespace qls {

class Normalizer {
public:
    struct Prepend {
        std::string text;
    };
    struct Replace {
        std::shared_ptr<const Regex> pattern;
        std::string content;
    };
    struct Strip {
        bool left = false, right = false;
    };
    struct ByteLevel {};
    // The Unicode normalization forms of UAX #15 (tokenizers' "NFC", "NFD", "NFKC", "NFKD").
    struct Nfc {};
    struct Nfd {};
    struct Nfkc {};
    struct Nfkd {};
    using Step = std::variant<Prepend, Replace, Strip, ByteLevel, Nfc, Nfd, Nfkc, Nfkd>;

    // Emplaced in place: a Step temporary trips GCC 12's -Wmaybe-uninitialized on variants.
    template <typename T>
    void add(T step) {
        m_steps.emplace_back(std::in_place_type<T>, std::move(step));
    }
    bool empty() const { return m_steps.empty(); }
    // True when every step is a Unicode normalization form: offset 0 of the normalized text is
    // offset 0 of the original, and a later piece starts past it unless it is split off inside
    // the expansion of the first character (HF aligns such a piece to offset 0).
    bool keeps_offsets() const;
    // `text` must be valid UTF-8 (Tokenizer::encode checks it at the door).
    std::string apply(std::string_view text) const;

private:
    std::vector<Step> m_steps;
};

// Replace every match of `pattern` in `text` by `content` (Replace normalizer and decoder).
std::string replace_all(const Regex& pattern, std::string_view text, std::string_view content);

}  // namespace qls
