// Matches jinja2/lexer.py (Jinja 3.1) with trim_blocks=True, lstrip_blocks=True: "-" strips all
// whitespace beside a tag, a block or comment end eats one following newline, and a block or
// comment that starts a line drops the spaces before it unless opened with "{%+".
#include "core/template/jinja_lexer.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "core/template/jinja_text.h"
#include "core/util/error.h"

namespace qls::jinja {

std::string normalize_template_source(std::string_view source) {
    std::string out;
    out.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            out += '\n';
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            out += source[i];
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

std::string template_location(std::string_view source, size_t offset) {
    offset = std::min(offset, source.size());
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < offset; ++i) {
        if (source[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    const size_t column = code_point_count(source.substr(line_start, offset - line_start)) + 1;
    return str_cat("chat template line ", line, ", column ", column, ": ");
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || static_cast<unsigned char>(c) >= 0x80; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

class Lexer {
public:
    explicit Lexer(const std::string& src) : m_src(src) {}

    std::vector<Token> run() {
        while (m_pos < m_src.size()) {
            const size_t tag = find_tag_start(m_pos);
            if (tag == std::string::npos) {
                emit_text(m_src.substr(m_pos), m_pos);
                break;
            }
            const char kind = m_src[tag + 1];
            size_t after = tag + 2;
            char sign = 0;
            if (after < m_src.size() && (m_src[after] == '-' || m_src[after] == '+')) sign = m_src[after++];
            size_t raw_body = 0;
            const bool raw = kind == '%' && match_raw_begin(after, raw_body);
            emit_text(strip_before(m_src.substr(m_pos, tag - m_pos), sign, kind != '{'), m_pos);
            if (raw) lex_raw(raw_body);
            else if (kind == '#') lex_comment(after, tag);
            else lex_tag(kind, after, tag);
        }
        m_out.push_back(Token{TokenType::Eof, {}, 0, 0.0, m_src.size()});
        return std::move(m_out);
    }

private:
    [[noreturn]] void fail(size_t offset, const std::string& msg) const {
        throw FormatError(template_location(m_src, offset) + msg);
    }

    size_t find_tag_start(size_t from) const {
        for (size_t i = m_src.find('{', from); i != std::string::npos; i = m_src.find('{', i + 1)) {
            if (i + 1 < m_src.size() && (m_src[i + 1] == '{' || m_src[i + 1] == '%' || m_src[i + 1] == '#')) return i;
        }
        return std::string::npos;
    }

    // Whitespace control for the text before a tag ("-" or lstrip_blocks).
    std::string strip_before(std::string text, char sign, bool block_or_comment) const {
        if (sign == '-') {
            size_t end = text.size();
            while (end > 0) {
                size_t start = end - 1;
                while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
                const std::u32string cp = decode_utf8(std::string_view(text).substr(start, end - start));
                if (cp.size() != 1 || !py_isspace(cp[0])) break;
                end = start;
            }
            text.resize(end);
        } else if (sign != '+' && block_or_comment) {
            const size_t line_pos = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
            if ((line_pos > 0 || m_line_starting) && line_pos < text.size() &&
                leading_space_bytes(std::string_view(text).substr(line_pos)) == text.size() - line_pos)
                text.resize(line_pos);
        }
        return text;
    }

    void emit_text(std::string text, size_t offset) {
        if (!text.empty()) m_out.push_back(Token{TokenType::Text, std::move(text), 0, 0.0, offset});
    }

    size_t skip_spaces(size_t p) const {
        while (p < m_src.size() && is_space(m_src[p])) ++p;
        return p;
    }

    bool starts_with(size_t p, const char* s) const { return m_src.compare(p, std::strlen(s), s) == 0; }

    // After "{%" and its sign: `\s*raw\s*(-%}\s*|%})`; sets `body` to where the raw text begins.
    bool match_raw_begin(size_t p, size_t& body) const {
        p = skip_spaces(p);
        if (!starts_with(p, "raw")) return false;
        p = skip_spaces(p + 3);
        if (starts_with(p, "-%}")) body = skip_spaces(p + 3);
        else if (starts_with(p, "%}")) body = p + 2;
        else return false;
        return true;
    }

    // Where a tag ends; sets m_pos after the closer (with trim_blocks / "-" whitespace).
    void finish_tag(size_t closer_end, bool trim_newline, bool strip_all) {
        size_t p = closer_end;
        if (strip_all) p += leading_space_bytes(std::string_view(m_src).substr(p));
        else if (trim_newline && p < m_src.size() && m_src[p] == '\n') ++p;
        m_pos = p;
        m_line_starting = p > 0 && m_src[p - 1] == '\n';
    }

    void lex_raw(size_t body) {
        for (size_t i = m_src.find("{%", body); i != std::string::npos; i = m_src.find("{%", i + 1)) {
            size_t p = i + 2;
            char sign = 0;
            if (p < m_src.size() && (m_src[p] == '-' || m_src[p] == '+')) sign = m_src[p++];
            p = skip_spaces(p);
            if (!starts_with(p, "endraw")) continue;
            p = skip_spaces(p + 6);
            const bool plus = starts_with(p, "+%}"), minus = starts_with(p, "-%}");
            if (!plus && !minus && !starts_with(p, "%}")) continue;
            m_line_starting = body > 0 && m_src[body - 1] == '\n';
            emit_text(strip_before(m_src.substr(body, i - body), sign, true), body);
            finish_tag(p + (plus || minus ? 3 : 2), !plus, minus);
            return;
        }
        fail(body, "missing end of raw directive");
    }

    void lex_comment(size_t p, size_t tag) {
        for (; p < m_src.size(); ++p) {
            if (m_src[p] == '+' && starts_with(p + 1, "#}")) return finish_tag(p + 3, false, false);
            if (m_src[p] == '-' && starts_with(p + 1, "#}")) return finish_tag(p + 3, false, true);
            if (starts_with(p, "#}")) return finish_tag(p + 2, true, false);
        }
        fail(tag, "missing end of comment tag");
    }

    // Returns true (and finishes the tag) when a block or variable closer starts at p.
    bool try_close(char kind, size_t p) {
        if (kind == '%') {
            if (m_src[p] == '+' && starts_with(p + 1, "%}")) return finish_tag(p + 3, false, false), true;
            if (m_src[p] == '-' && starts_with(p + 1, "%}")) return finish_tag(p + 3, false, true), true;
            if (starts_with(p, "%}")) return finish_tag(p + 2, true, false), true;
            return false;
        }
        if (m_src[p] == '-' && starts_with(p + 1, "}}")) return finish_tag(p + 3, false, true), true;
        if (starts_with(p, "}}")) return finish_tag(p + 2, false, false), true;
        return false;
    }

    void lex_tag(char kind, size_t p, size_t tag) {
        const bool block = kind == '%';
        m_out.push_back(Token{block ? TokenType::BlockBegin : TokenType::VarBegin, {}, 0, 0.0, tag});
        std::string balance;
        while (true) {
            if (p >= m_src.size()) fail(tag, block ? "missing end of block tag '%}'" : "missing end of expression '}}'");
            if (balance.empty() && try_close(kind, p)) {
                m_out.push_back(Token{block ? TokenType::BlockEnd : TokenType::VarEnd, {}, 0, 0.0, p});
                return;
            }
            const char c = m_src[p];
            if (is_space(c)) ++p;
            else if (is_digit(c)) p = lex_number(p);
            else if (is_name_start(c)) p = lex_name(p);
            else if (c == '\'' || c == '"') p = lex_string(p);
            else p = lex_operator(p, balance);
        }
    }

    size_t scan_digits(size_t p) const {  // (\d+_)*\d+ ; returns p unchanged when no digit
        if (p >= m_src.size() || !is_digit(m_src[p])) return p;
        while (true) {
            while (p < m_src.size() && is_digit(m_src[p])) ++p;
            if (p + 1 < m_src.size() && m_src[p] == '_' && is_digit(m_src[p + 1])) ++p;
            else return p;
        }
    }

    static std::string without_underscores(std::string s) {
        std::erase(s, '_');
        return s;
    }

    size_t lex_number(size_t p) {
        const size_t int_end = scan_digits(p);
        size_t end = int_end;
        bool is_float = false;
        if (p == 0 || m_src[p - 1] != '.') {
            size_t q = int_end;
            if (q + 1 < m_src.size() && m_src[q] == '.' && is_digit(m_src[q + 1])) {
                q = scan_digits(q + 1);
                is_float = true;
            }
            if (q < m_src.size() && (m_src[q] == 'e' || m_src[q] == 'E')) {
                size_t e = q + 1;
                if (e < m_src.size() && (m_src[e] == '+' || m_src[e] == '-')) ++e;
                const size_t e_end = scan_digits(e);
                if (e_end > e) {
                    q = e_end;
                    is_float = true;
                }
            }
            if (is_float) end = q;
        }
        if (is_float) {
            const std::string text = without_underscores(m_src.substr(p, end - p));
            m_out.push_back(Token{TokenType::Float, text, 0, float_literal(text), p});
            return end;
        }
        return lex_integer(p);
    }

    // Python's float(): correctly rounded, locale-free, and out of range it gives inf (1e999)
    // or 0.0 (1e-999) rather than failing.
    static double float_literal(const std::string& text) {
        double value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec == std::errc::result_out_of_range)
            return text.find_first_of("-", text.find_first_of("eE")) != std::string::npos ? 0.0 : INFINITY;
        return value;
    }

    size_t lex_integer(size_t p) {
        int base = 10;
        size_t digits = p;
        if (m_src[p] == '0' && p + 1 < m_src.size()) {
            const char x = static_cast<char>(m_src[p + 1] | 0x20);
            base = x == 'b' ? 2 : x == 'o' ? 8 : x == 'x' ? 16 : 10;
            if (base != 10) digits = p + 2;
        }
        auto valid = [&](char c) {
            const int d = is_digit(c) ? c - '0' : ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') ? (c | 0x20) - 'a' + 10 : 99;
            return d < base;
        };
        size_t q = digits;
        if (base == 10 && m_src[p] == '0') {
            // 0(_?0)*
            q = p + 1;
            while (q < m_src.size() && (m_src[q] == '0' || (m_src[q] == '_' && q + 1 < m_src.size() && m_src[q + 1] == '0'))) ++q;
        } else {
            while (q < m_src.size() && (valid(m_src[q]) || (m_src[q] == '_' && q + 1 < m_src.size() && valid(m_src[q + 1])))) ++q;
            if (q == digits) {  // "0x" with no digits: the 0 stands alone
                base = 10;
                q = p + 1;
                digits = p;
            }
        }
        const std::string text = without_underscores(m_src.substr(digits, q - digits));
        int64_t value = 0;
        for (char c : text) {
            const int d = is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
            if (value > (INT64_MAX - d) / base) fail(p, "integer literal is too large");
            value = value * base + d;
        }
        m_out.push_back(Token{TokenType::Int, m_src.substr(p, q - p), value, 0.0, p});
        return q;
    }

    size_t lex_name(size_t p) {
        size_t q = p;
        while (q < m_src.size() && is_name_char(m_src[q])) ++q;
        m_out.push_back(Token{TokenType::Name, m_src.substr(p, q - p), 0, 0.0, p});
        return q;
    }

    size_t lex_string(size_t p);
    size_t lex_operator(size_t p, std::string& balance);

    const std::string& m_src;
    size_t m_pos = 0;
    bool m_line_starting = true;
    std::vector<Token> m_out;
};

int hex_value(char c) {
    if (is_digit(c)) return c - '0';
    c = static_cast<char>(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// The literal's body decoded as Python's "unicode-escape" codec does (Jinja's string rule).
size_t Lexer::lex_string(size_t p) {
    const char quote = m_src[p];
    std::string value;
    size_t q = p + 1;
    while (true) {
        if (q >= m_src.size()) fail(p, "unterminated string literal");
        const char c = m_src[q];
        if (c == quote) break;
        if (c != '\\' || q + 1 >= m_src.size()) {
            value += c;
            ++q;
            continue;
        }
        const char e = m_src[q + 1];
        q += 2;
        switch (e) {
            case '\n': break;
            case '\\': value += '\\'; break;
            case '\'': value += '\''; break;
            case '"': value += '"'; break;
            case 'a': value += '\a'; break;
            case 'b': value += '\b'; break;
            case 'f': value += '\f'; break;
            case 'n': value += '\n'; break;
            case 'r': value += '\r'; break;
            case 't': value += '\t'; break;
            case 'v': value += '\v'; break;
            case 'x':
            case 'u':
            case 'U': {
                const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                char32_t cp = 0;
                for (int k = 0; k < n; ++k) {
                    const int d = q < m_src.size() ? hex_value(m_src[q]) : -1;
                    if (d < 0) fail(p, str_cat("truncated \\", e, " escape in string literal"));
                    cp = cp * 16 + static_cast<char32_t>(d);
                    ++q;
                }
                if (cp > 0x10FFFF) fail(p, "illegal Unicode character in string literal");
                append_utf8(value, cp);
                break;
            }
            case 'N': fail(p, "\\N{...} escapes are not supported in chat templates");
            default:
                if (e >= '0' && e <= '7') {
                    char32_t cp = static_cast<char32_t>(e - '0');
                    for (int k = 0; k < 2 && q < m_src.size() && m_src[q] >= '0' && m_src[q] <= '7'; ++k)
                        cp = cp * 8 + static_cast<char32_t>(m_src[q++] - '0');
                    append_utf8(value, cp);
                } else {
                    value += '\\';
                    value += e;
                }
        }
    }
    m_out.push_back(Token{TokenType::String, std::move(value), 0, 0.0, p});
    return q + 1;
}

size_t Lexer::lex_operator(size_t p, std::string& balance) {
    static const char* const two[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : two) {
        if (starts_with(p, op)) {
            m_out.push_back(Token{TokenType::Op, op, 0, 0.0, p});
            return p + 2;
        }
    }
    const char c = m_src[p];
    if (!std::strchr("+-/*%~[](){}><=.:|,;", c)) fail(p, str_cat("unexpected character '", c, "'"));
    if (c == '(') balance.push_back(')');
    else if (c == '[') balance.push_back(']');
    else if (c == '{') balance.push_back('}');
    else if (c == ')' || c == ']' || c == '}') {
        if (balance.empty()) fail(p, str_cat("unexpected '", c, "'"));
        if (balance.back() != c) fail(p, str_cat("unexpected '", c, "', expected '", balance.back(), "'"));
        balance.pop_back();
    }
    m_out.push_back(Token{TokenType::Op, std::string(1, c), 0, 0.0, p});
    return p + 1;
}

}  // namespace

std::vector<Token> lex_template(const std::string& source) { return Lexer(source).run(); }

}  // namespace qls::jinja
