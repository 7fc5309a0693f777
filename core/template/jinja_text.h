// Python str semantics over UTF-8: Jinja templates run on Python strings, which count, index,
// strip, split and change case by code point with Unicode whitespace and case rules.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qls::jinja {

std::u32string decode_utf8(std::string_view s);
void append_utf8(std::string& out, char32_t cp);
std::string encode_utf8(std::u32string_view s);
size_t code_point_count(std::string_view s);
bool is_ascii(std::string_view s);

// str.isspace() for one code point (Unicode White_Space plus the \x1c-\x1f separators).
bool py_isspace(char32_t cp);
// Byte length of the run of Python whitespace at the start of `s`.
size_t leading_space_bytes(std::string_view s);

// str.strip/lstrip/rstrip; chars = nullopt strips whitespace.
std::string py_strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// str.split / str.rsplit; sep = nullopt splits on whitespace runs. maxsplit < 0: no limit.
std::vector<std::string> py_split(std::string_view s, const std::optional<std::string>& sep, long maxsplit);
std::vector<std::string> py_rsplit(std::string_view s, const std::optional<std::string>& sep, long maxsplit);
std::vector<std::string> py_splitlines(std::string_view s, bool keepends);
std::string py_replace(std::string_view s, std::string_view old, std::string_view repl, long count);

// Case mapping. Covers ASCII, Latin-1 and basic Cyrillic; throws EvalError on other cased
// scripts rather than return a string that differs from Python's.
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_capitalize(std::string_view s);
std::string py_title(std::string_view s);      // str.title()
std::string jinja_title(std::string_view s);   // the |title filter (splits on -, space, brackets)

// repr() of a float and of a str, byte for byte as CPython prints them.
std::string py_float_repr(double v);
std::string py_str_repr(std::string_view s);
// json.dumps(str, ensure_ascii=False).
void append_json_string(std::string& out, std::string_view s);

}  // namespace qls::jinja
