// Normalizers of tokenizer.json that we support (tokenizers normalizers/{prepend,replace,strip,
// byte_level,utils}.rs). A Sequence is flattened into `steps`.
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
    // NFC, for text that passes the quick check only (see nfc_quick_check.h).
    struct Nfc {};
    using Step = std::variant<Prepend, Replace, Strip, ByteLevel, Nfc>;

    // Emplaced in place: a Step temporary trips GCC 12's -Wmaybe-uninitialized on variants.
    template <typename T>
    void add(T step) {
        m_steps.emplace_back(std::in_place_type<T>, std::move(step));
    }
    bool empty() const { return m_steps.empty(); }
    // True when every step leaves accepted text unchanged (only NFC), so offsets are kept.
    bool keeps_offsets() const;
    std::string apply(std::string_view text) const;

private:
    std::vector<Step> m_steps;
};

// Replace every match of `pattern` in `text` by `content` (Replace normalizer and decoder).
std::string replace_all(const Regex& pattern, std::string_view text, std::string_view content);

}  // namespace qls
