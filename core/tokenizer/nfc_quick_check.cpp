#include "core/tokenizer/nfc_quick_check.h"

#include <algorithm>
#include <cstdint>

#include "core/tokenizer/utf8.h"

namespace qls {
namespace {

struct CodeRange {
    std::uint32_t first, last;
};
struct CccRange {
    std::uint32_t first, last;
    std::uint8_t ccc;
};

#include "core/tokenizer/nfc_quick_check_data.inc"

bool not_yes(char32_t c) {
    auto it = std::upper_bound(std::begin(kNfcNotYes), std::end(kNfcNotYes), c,
                               [](char32_t v, const CodeRange& r) { return v < r.first; });
    return it != std::begin(kNfcNotYes) && c <= std::prev(it)->last;
}

int combining_class(char32_t c) {
    auto it = std::upper_bound(std::begin(kCombiningClass), std::end(kCombiningClass), c,
                               [](char32_t v, const CccRange& r) { return v < r.first; });
    return it != std::begin(kCombiningClass) && c <= std::prev(it)->last ? std::prev(it)->ccc : 0;
}

}  // namespace

std::size_t nfc_quick_check_failure(std::string_view s) {
    int last_ccc = 0;
    for (std::size_t pos = 0; pos < s.size();) {
        const std::size_t start = pos;
        const char32_t c = utf8::next(s, pos);
        if (c < 0x300) {  // nothing below U+0300 combines or changes under NFC
            last_ccc = 0;
            continue;
        }
        const int ccc = combining_class(c);
        if ((ccc != 0 && last_ccc > ccc) || not_yes(c)) return start;
        last_ccc = ccc;
    }
    return std::string_view::npos;
}

}  // namespace qls
