// Python str.upper/lower/capitalize/title and Jinja's |title filter (jinja2/filters.py do_title).
// Case mapping is implemented for ASCII, Latin-1 and basic Cyrillic; other scripts with case
// throw, so a template never yields text that differs silently from Python's.
#include <cstdio>
#include <string>

#include "core/template/jinja_text.h"
#include "core/template/jinja_value.h"

namespace qls::jinja {
namespace {

bool unmapped_cased_range(char32_t c) {
    return (c >= 0x100 && c <= 0x2AF) || (c >= 0x370 && c <= 0x3FF) || (c >= 0x460 && c <= 0x58F) ||
           (c >= 0x10A0 && c <= 0x10FF) || (c >= 0x13A0 && c <= 0x13FF) || (c >= 0x1C80 && c <= 0x1CBF) ||
           (c >= 0x1D00 && c <= 0x1FFF) || (c >= 0x2100 && c <= 0x218F) || (c >= 0x24B6 && c <= 0x24E9) ||
           (c >= 0x2C00 && c <= 0x2D2F) || (c >= 0xA640 && c <= 0xA69F) || (c >= 0xA720 && c <= 0xA7FF) ||
           (c >= 0xAB30 && c <= 0xABBF) || (c >= 0xFB00 && c <= 0xFB17) || (c >= 0xFF21 && c <= 0xFF5A) ||
           (c >= 0x10400 && c <= 0x104FF) || (c >= 0x10C80 && c <= 0x10CFF) ||
           (c >= 0x118A0 && c <= 0x118FF) || (c >= 0x16E40 && c <= 0x16E9F) ||
           (c >= 0x1E900 && c <= 0x1E95F);
}

[[noreturn]] void unsupported_case(char32_t c) {
    std::string s;
    append_utf8(s, c);
    char code[16];
    std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(c));
    throw EvalError(str_cat("changing the case of '", s, "' (", code, ") is not supported"));
}

bool is_upper_letter(char32_t c) {
    return (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x400 && c <= 0x42F);
}

bool is_lower_letter(char32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 0xDF && c <= 0xFF && c != 0xF7) || c == 0xAA || c == 0xB5 ||
           c == 0xBA || (c >= 0x430 && c <= 0x45F);
}

// Cased in the Unicode sense (what str.title() treats as part of a word).
bool is_cased(char32_t c) {
    if (unmapped_cased_range(c)) unsupported_case(c);
    return is_upper_letter(c) || is_lower_letter(c);
}

void append_upper(std::string& out, char32_t c) {
    if (c >= 'a' && c <= 'z') c -= 32;
    else if (c == 0xDF) { out += "SS"; return; }
    else if (c == 0xB5 || c == 0xFF) unsupported_case(c);  // map outside Latin-1
    else if (c >= 0xE0 && c <= 0xFE && c != 0xF7) c -= 32;
    else if (c >= 0x430 && c <= 0x44F) c -= 32;
    else if (c >= 0x450 && c <= 0x45F) c -= 80;
    else if (unmapped_cased_range(c)) unsupported_case(c);
    append_utf8(out, c);
}

void append_lower(std::string& out, char32_t c) {
    if (c >= 'A' && c <= 'Z') c += 32;
    else if (c >= 0xC0 && c <= 0xDE && c != 0xD7) c += 32;
    else if (c >= 0x410 && c <= 0x42F) c += 32;
    else if (c >= 0x400 && c <= 0x40F) c += 80;
    else if (unmapped_cased_range(c)) unsupported_case(c);
    append_utf8(out, c);
}

template <typename F>
std::string map_code_points(std::string_view s, F f) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : decode_utf8(s)) f(out, c);
    return out;
}

}  // namespace

std::string py_upper(std::string_view s) { return map_code_points(s, append_upper); }
std::string py_lower(std::string_view s) { return map_code_points(s, append_lower); }

std::string py_capitalize(std::string_view s) {
    const std::u32string cps = decode_utf8(s);
    std::string out;
    for (size_t i = 0; i < cps.size(); ++i) {
        if (i == 0) append_upper(out, cps[i]);
        else append_lower(out, cps[i]);
    }
    return out;
}

std::string py_title(std::string_view s) {
    std::string out;
    bool previous_cased = false;
    for (char32_t c : decode_utf8(s)) {
        const bool cased = is_cased(c);
        if (previous_cased) append_lower(out, c);
        else append_upper(out, c);
        previous_cased = cased;
    }
    return out;
}

std::string jinja_title(std::string_view s) {
    // re.split(r"([-\s({\[<]+)") then item[0].upper() + item[1:].lower() for each piece.
    auto is_sep = [](char32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_isspace(c); };
    const std::u32string cps = decode_utf8(s);
    std::string out;
    size_t i = 0;
    while (i < cps.size()) {
        const bool sep = is_sep(cps[i]);
        size_t j = i;
        while (j < cps.size() && is_sep(cps[j]) == sep) ++j;
        for (size_t k = i; k < j; ++k) {
            if (k == i) append_upper(out, cps[k]);
            else append_lower(out, cps[k]);
        }
        i = j;
    }
    return out;
}

}  // namespace qls::jinja
