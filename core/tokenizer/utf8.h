// UTF-8 helpers for the tokenizer. HF tokenizers works on Rust &str, so its input is always
// valid UTF-8; we check that once at the door and then rely on it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qls::utf8 {

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629:
// no overlongs, no surrogates, nothing above U+10FFFF), or npos when `s` is valid.
std::size_t find_invalid(std::string_view s);

// Length of the sequence a lead byte announces (1 for continuation or invalid bytes).
inline std::size_t sequence_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if ((lead & 0xE0) == 0xC0) return 2;
    if ((lead & 0xF0) == 0xE0) return 3;
    if ((lead & 0xF8) == 0xF0) return 4;
    return 1;
}

// Decode the code point at s[pos] of a valid UTF-8 string; pos advances past it.
char32_t next(std::string_view s, std::size_t& pos);
void append(std::string& out, char32_t cp);
std::size_t count_chars(std::string_view s);

// Bytes -> UTF-8 the way Rust's String::from_utf8_lossy does: each maximal invalid subpart
// becomes one U+FFFD.
std::string from_bytes_lossy(std::string_view bytes);

// The White_Space property (Rust char::is_whitespace; Oniguruma's Unicode \s).
bool is_white_space(char32_t c);

}  // namespace qls::utf8
