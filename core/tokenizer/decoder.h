// Decoders of tokenizer.json (tokenizers decoders/{byte_fallback,fuse,strip,sequence}.rs,
// ByteLevel and Metaspace decoders, Replace). Each step maps a token list to a token list
// (decode_chain); the result is the concatenation.
#pragma once
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/tokenizer/regex.h"

namespace qls {

class Decoder {
public:
    struct ByteLevel {};
    struct Replace {
        std::shared_ptr<const Regex> pattern;
        std::string content;
    };
    struct ByteFallback {};
    struct Fuse {};
    struct Strip {
        char32_t content = U' ';
        std::size_t start = 0, stop = 0;
    };
    struct Metaspace {
        char32_t replacement = U'\u2581';
        bool strip_first = true;  // prepend_scheme != never
    };
    using Step = std::variant<ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace>;

    // Emplaced in place: a Step temporary trips GCC 12's -Wmaybe-uninitialized on variants.
    template <typename T>
    void add(T step) {
        m_steps.emplace_back(std::in_place_type<T>, std::move(step));
    }
    // No decoder at all: HF joins the tokens with spaces.
    void set_absent() { m_absent = true; }
    std::string decode(std::vector<std::string> tokens) const;

private:
    std::vector<Step> m_steps;
    bool m_absent = false;
};

}  // namespace qls
