// The NFC quick check of UAX #15: text that passes is already in NFC, so the NFC normalizer
// (Qwen2's tokenizer.json) is the identity on it. Full NFC needs decomposition and composition
// tables we do not carry; text that fails the check is refused instead of tokenized wrongly.
#pragma once
#include <cstddef>
#include <string_view>

namespace qls {

// Byte offset of the first character where the quick check is not "yes" (NFC_Quick_Check No or
// Maybe, or combining classes out of canonical order), or npos when `s` is certainly NFC.
// `s` must be valid UTF-8.
std::size_t nfc_quick_check_failure(std::string_view s);

}  // namespace qls
