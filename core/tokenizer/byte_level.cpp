// Byte-level mapping: bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF map to themselves, the other
// 68 bytes in increasing order to U+0100, U+0101, ... (formats.md §8.2).
#include "core/tokenizer/byte_level.h"

#include <array>

#include "core/tokenizer/utf8.h"

namespace qls::byte_level {
namespace {

bool maps_to_itself(unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

struct Tables {
    std::array<std::string, 256> byte_to_utf8;
    std::array<short, 0x144> char_to_byte;  // every mapped code point is below U+0144
    Tables() {
        char_to_byte.fill(-1);
        unsigned next = 0x100;
        for (unsigned b = 0; b < 256; ++b) {
            const char32_t c = maps_to_itself(b) ? b : next++;
            utf8::append(byte_to_utf8[b], c);
            char_to_byte[c] = static_cast<short>(b);
        }
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

}  // namespace

void encode(std::string_view bytes, std::string& out) {
    const auto& t = tables();
    for (char b : bytes) out += t.byte_to_utf8[static_cast<unsigned char>(b)];
}

std::optional<unsigned char> char_to_byte(char32_t c) {
    const auto& t = tables();
    if (c >= t.char_to_byte.size() || t.char_to_byte[c] < 0) return std::nullopt;
    return static_cast<unsigned char>(t.char_to_byte[c]);
}

std::optional<std::string> decode_token(std::string_view token) {
    std::string bytes;
    bytes.reserve(token.size());
    std::size_t pos = 0;
    while (pos < token.size()) {
        const auto b = char_to_byte(utf8::next(token, pos));
        if (!b) return std::nullopt;
        bytes += static_cast<char>(*b);
    }
    return bytes;
}

}  // namespace qls::byte_level
