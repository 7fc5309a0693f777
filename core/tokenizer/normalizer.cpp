// Normalizer steps with the semantics of tokenizers' NormalizedString::{prepend, replace, strip,
// nfc, nfd, nfkc, nfkd} and the ByteLevel normalizer; offsets are not tracked because we only
// need ids. The Unicode forms are ICU's (HF uses the unicode-normalization-alignments crate; both
// follow UAX #15, and the stability policy keeps them equal on characters both versions know).
#include "core/tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/tokenizer/byte_level.h"
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

template <typename T>
constexpr bool kIsUnicodeForm = std::is_same_v<T, Normalizer::Nfc> || std::is_same_v<T, Normalizer::Nfd> ||
                                std::is_same_v<T, Normalizer::Nfkc> || std::is_same_v<T, Normalizer::Nfkd>;

struct IcuForm {
    const char* name;
    const icu::Normalizer2* (*instance)(UErrorCode&);
};
void check_icu(UErrorCode status, const IcuForm& form) {
    QLS_CHECK(InternalError, U_SUCCESS(status), "ICU ", form.name, " normalization failed: ", u_errorName(status));
}

void normalize(const IcuForm& form, std::string& s) {
    QLS_CHECK(DataError, s.size() <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
              "text of ", s.size(), " bytes is too long for ", form.name, " normalization (ICU takes at most 2 GiB)");
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* n = form.instance(status);
    check_icu(status, form);
    const icu::StringPiece piece(s.data(), static_cast<std::int32_t>(s.size()));
    // Most text is already normalized; this check spans it without copying.
    const bool normalized = n->isNormalizedUTF8(piece, status);
    check_icu(status, form);
    if (normalized) return;
    std::string out;
    icu::StringByteSink<std::string> sink(&out, piece.length());
    n->normalizeUTF8(0, piece, sink, nullptr, status);
    check_icu(status, form);
    s = std::move(out);
}

void apply_step(const Normalizer::Prepend& p, std::string& s) {
    if (!s.empty()) s.insert(0, p.text);
}
void apply_step(const Normalizer::Replace& r, std::string& s) { s = replace_all(*r.pattern, s, r.content); }
void apply_step(const Normalizer::Strip& st, std::string& s) { s = strip(s, st.left, st.right); }
void apply_step(const Normalizer::ByteLevel&, std::string& s) {
    std::string mapped;
    byte_level::encode(s, mapped);
    s = std::move(mapped);
}
void apply_step(Normalizer::Nfc, std::string& s) { normalize({"NFC", &icu::Normalizer2::getNFCInstance}, s); }
void apply_step(Normalizer::Nfd, std::string& s) { normalize({"NFD", &icu::Normalizer2::getNFDInstance}, s); }
void apply_step(Normalizer::Nfkc, std::string& s) { normalize({"NFKC", &icu::Normalizer2::getNFKCInstance}, s); }
void apply_step(Normalizer::Nfkd, std::string& s) { normalize({"NFKD", &icu::Normalizer2::getNFKDInstance}, s); }

}  // namespace

bool Normalizer::keeps_offsets() const {
    for (const auto& step : m_steps)
        if (!std::visit([](const auto& st) { return kIsUnicodeForm<std::decay_t<decltype(st)>>; }, step)) return false;
    return true;
}

std::string Normalizer::apply(std::string_view text) const {
    std::string s(text);
    for (const auto& step : m_steps) std::visit([&s](const auto& st) { apply_step(st, s); }, step);
    return s;
}

}  // namespace qls
