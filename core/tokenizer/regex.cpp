// PCRE2 backend for the Oniguruma patterns of HF tokenizers (tokenizers/src/utils/onig.rs,
// tokenizer/pattern.rs). Differences handled:
// - onig's Unicode \s is the White_Space property; PCRE2's UCP \s adds U+180E. We spell it out.
// - onig (Ruby syntax) treats ^ and $ as line anchors: PCRE2_MULTILINE.
// - \h means a hex digit in onig but horizontal space in PCRE2; \w, \b differ in Unicode
//   detail; (?m) means dot-all in onig. These are refused rather than guessed.
#include "core/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cctype>

#include "core/tokenizer/utf8.h"
#include "core/util/error.h"

namespace qls {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

namespace {

constexpr std::string_view kWhiteSpaceSet =
    R"(\x{9}-\x{D}\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

// Inline flag groups "(?flags)" / "(?flags:": only i (and -i) map one to one.
void check_inline_flags(std::string_view p, std::size_t i, std::string_view where) {
    std::size_t j = i + 2;
    while (j < p.size() && (std::isalpha(static_cast<unsigned char>(p[j])) || p[j] == '-')) ++j;
    if (j == i + 2 || j >= p.size() || (p[j] != ':' && p[j] != ')')) return;
    for (std::size_t k = i + 2; k < j; ++k)
        QLS_CHECK(FormatError, p[k] == 'i' || p[k] == '-', where, ": regex inline flag '", p[k],
                  "' in '", p, "' is unsupported (only (?i) maps exactly from Oniguruma)");
}

}  // namespace

std::string onig_to_pcre2(std::string_view p, std::string_view where) {
    std::string out;
    out.reserve(p.size() + 64);
    bool in_class = false;
    for (std::size_t i = 0; i < p.size(); ++i) {
        const char c = p[i];
        if (c == '\\') {
            QLS_CHECK(FormatError, i + 1 < p.size(), where, ": regex '", p, "' ends with a backslash");
            const char e = p[++i];
            if (e == 's') {
                out += in_class ? std::string(kWhiteSpaceSet) : "[" + std::string(kWhiteSpaceSet) + "]";
            } else if (e == 'S') {
                QLS_CHECK(FormatError, !in_class, where, ": regex '", p, "': \\S inside a class is unsupported");
                out += "[^" + std::string(kWhiteSpaceSet) + "]";
            } else {
                QLS_CHECK(FormatError, std::string_view("hHwWbBvVRXKgkG").find(e) == std::string_view::npos,
                          where, ": regex escape \\", e, " in '", p,
                          "' is unsupported (its Oniguruma meaning differs from PCRE2)");
                out += c;
                out += e;
            }
            continue;
        }
        if (in_class) {
            if (c == ']') in_class = false;
            QLS_CHECK(FormatError, !(c == '[' && i + 1 < p.size() && p[i + 1] != ':'), where,
                      ": regex '", p, "': nested character classes are unsupported");
            out += c;
            continue;
        }
        if (c == '[') {
            in_class = true;
            out += c;
            if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
            if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];  // a leading ] is literal
            continue;
        }
        if (c == '(' && i + 1 < p.size() && p[i + 1] == '?') check_inline_flags(p, i, where);
        out += c;
    }
    return out;
}

struct Regex::Code {
    pcre2_code* code = nullptr;
    ~Code() { pcre2_code_free(code); }
};

namespace {

// Per-thread match state: PCRE2 match data and a JIT stack large enough for long whitespace
// runs. One per thread keeps Regex::find_all lock-free.
struct ThreadMatchState {
    pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
    pcre2_match_context* context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack* stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    ThreadMatchState() { pcre2_jit_stack_assign(context, nullptr, stack); }
    ~ThreadMatchState() {
        pcre2_jit_stack_free(stack);
        pcre2_match_context_free(context);
        pcre2_match_data_free(data);
    }
};

ThreadMatchState& thread_state() {
    thread_local ThreadMatchState state;
    return state;
}

// One pcre2_match; returns false when there is no match.
bool match_once(pcre2_code* code, std::string_view text, std::size_t start, uint32_t options,
                Span& m, const std::string& source) {
    auto& st = thread_state();
    const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                               options | PCRE2_NO_UTF_CHECK, st.data, st.context);
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    if (rc < 0) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(rc, buf, sizeof buf);
        throw DataError(str_cat("regex '", source, "' failed on a ", text.size(),
                                "-byte piece: ", reinterpret_cast<const char*>(buf)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    m = {ov[0], ov[1]};
    return true;
}

}  // namespace

Regex::Regex(std::string_view pattern, std::string_view where)
    : m_code(std::make_unique<Code>()), m_source(pattern) {
    const std::string translated = onig_to_pcre2(pattern, where);
    int err = 0;
    PCRE2_SIZE err_off = 0;
    m_code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &err_off, nullptr);
    if (!m_code->code) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(err, buf, sizeof buf);
        throw FormatError(str_cat(where, ": invalid regex '", pattern, "': ",
                                  reinterpret_cast<const char*>(buf), " at offset ", err_off));
    }
    // Without JIT (unsupported platform) the interpreter gives the same matches, only slower.
    pcre2_jit_compile(m_code->code, PCRE2_JIT_COMPLETE);
}

Regex Regex::literal(std::string_view text, std::string_view where) {
    std::string escaped;
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x80 && !std::isalnum(u) && c != ' ') escaped += '\\';
        escaped += c;
    }
    return Regex(escaped, where);
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

void Regex::find_all(std::string_view text, std::vector<Span>& out) const {
    std::size_t pos = 0;
    std::size_t last_match_end = std::string_view::npos;
    while (pos <= text.size()) {
        Span m;
        if (!match_once(m_code->code, text, pos, 0, m, m_source)) break;
        if (m.first == m.second && m.second == last_match_end) {
            if (pos >= text.size()) break;
            pos += std::min(utf8::sequence_length(static_cast<unsigned char>(text[pos])), text.size() - pos);
            continue;
        }
        out.push_back(m);
        pos = m.second;
        last_match_end = m.second;
    }
}

bool Regex::matches_at_start(std::string_view text) const {
    Span m;
    return match_once(m_code->code, text, 0, PCRE2_ANCHORED, m, m_source);
}

}  // namespace qls
