// Normalizer steps with the semantics of tokenizers' NormalizedString::{prepend, replace, strip}
// and the ByteLevel normalizer; offsets are not tracked because we only need ids.
#include "core/tokenizer/normalizer.h"

#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/nfc_quick_check.h"
#include "core/tokenizer/utf8.h"
#include "core/util/error.h"

namespace qls {

std::string replace_all(const Regex& pattern, std::string_view text, std::string_view content) {
    std::vector<Span> matches;
    pattern.find_all(text, matches);
    if (matches.empty()) return std::string(text);
    std::string out;
    out.reserve(text.size());
    std::size_t last = 0;
    for (const auto& [b, e] : matches) {
        out.append(text.substr(last, b - last));
        out.append(content);
        last = e;
    }
    out.append(text.substr(last));
    return out;
}

namespace {

// Rust's str::trim_start/trim_end over char::is_whitespace.
std::string strip(std::string_view s, bool left, bool right) {
    std::size_t b = 0, e = s.size();
    if (left) {
        while (b < e) {
            std::size_t p = b;
            if (!utf8::is_white_space(utf8::next(s, p))) break;
            b = p;
        }
    }
    if (right) {
        while (e > b) {
            std::size_t start = e - 1;
            while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
            std::size_t p = start;
            if (!utf8::is_white_space(utf8::next(s, p))) break;
            e = start;
        }
    }
    return std::string(s.substr(b, e - b));
}

}  // namespace

bool Normalizer::keeps_offsets() const {
    for (const auto& step : m_steps)
        if (!std::holds_alternative<Nfc>(step)) return false;
    return true;
}

std::string Normalizer::apply(std::string_view text) const {
    std::string s(text);
    for (const auto& step : m_steps) {
        if (auto* p = std::get_if<Prepend>(&step)) {
            if (!s.empty()) s.insert(0, p->text);
        } else if (auto* r = std::get_if<Replace>(&step)) {
            s = replace_all(*r->pattern, s, r->content);
        } else if (auto* st = std::get_if<Strip>(&step)) {
            s = strip(s, st->left, st->right);
        } else if (std::holds_alternative<Nfc>(step)) {
            const std::size_t bad = nfc_quick_check_failure(s);
            if (bad != std::string::npos) {
                std::size_t p = bad;
                throw DataError(str_cat("the NFC normalizer is only supported for text already in NFC; character U+",
                                        std::hex, static_cast<std::uint32_t>(utf8::next(s, p)),
                                        " may need composing (full NFC normalization is not implemented)"));
            }
        } else {
            std::string mapped;
            byte_level::encode(s, mapped);
            s = std::move(mapped);
        }
    }
    return s;
}

}  // namespace qls
