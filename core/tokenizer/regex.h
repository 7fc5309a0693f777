// Regular expressions for pre-tokenizers and normalizers. HF tokenizers compiles these with
// Oniguruma (Rust `onig`, Ruby-like syntax); we use PCRE2 with UTF+UCP and rewrite the escapes
// whose Unicode meaning differs (\s, \S) so the Llama-3, Qwen2 and GPT-2 patterns behave the
// same. Escapes and inline flags we cannot map exactly are rejected at compile time.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qls {

// (begin, end) byte offsets of a match.
using Span = std::pair<std::size_t, std::size_t>;

class Regex {
public:
    // Throws FormatError naming `where` when the pattern is invalid or uses an unsupported
    // construct.
    Regex(std::string_view pattern, std::string_view where);
    static Regex literal(std::string_view text, std::string_view where);
    ~Regex();
    Regex(Regex&&) noexcept;
    Regex& operator=(Regex&&) noexcept;
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // All non-overlapping matches in order, with onig's FindMatches rule for empty matches (an
    // empty match right where the previous match ended is skipped). `text` must be valid
    // UTF-8. Safe to call from many threads.
    void find_all(std::string_view text, std::vector<Span>& out) const;
    bool matches_at_start(std::string_view text) const;  // anchored at offset 0
    const std::string& source() const { return m_source; }

private:
    struct Code;
    std::unique_ptr<Code> m_code;
    std::string m_source;
};

// The pattern after rewriting Oniguruma escapes into PCRE2 (exposed for tests).
std::string onig_to_pcre2(std::string_view pattern, std::string_view where);

// The GPT-2, Llama-3 and Qwen2 split patterns (formats.md §8.2).
extern const char* const kGpt2Pattern;
extern const char* const kLlama3Pattern;
extern const char* const kQwen2Pattern;

}  // namespace qls
