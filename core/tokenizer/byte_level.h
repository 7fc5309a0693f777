// The GPT-2 byte <-> character map of byte-level BPE (formats.md §8.2, tokenizers
// pre_tokenizers/byte_level.rs `bytes_char`).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace qls::byte_level {

// Append the mapped characters of every byte of `bytes` to `out`.
void encode(std::string_view bytes, std::string& out);
// The byte a code point stands for, if it is one of the 256 mapped characters.
std::optional<unsigned char> char_to_byte(char32_t c);
// Inverse of encode for one token: its bytes when every character is mapped, else nullopt
// (the ByteLevel decoder then keeps the token's own UTF-8 bytes).
std::optional<std::string> decode_token(std::string_view token);

}  // namespace qls::byte_level
