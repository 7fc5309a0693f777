// Tokenizer for Jinja templates with transformers' settings (trim_blocks, lstrip_blocks,
// keep_trailing_newline off), following jinja2/lexer.py: whitespace control is resolved here,
// so Text tokens hold exactly what the template outputs between tags.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qls::jinja {

enum class TokenType : uint8_t { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
    TokenType type;
    std::string text;  // Text data, name, operator, or the unescaped string literal
    int64_t int_value = 0;
    double float_value = 0.0;
    size_t offset = 0;  // byte offset into the normalized source
};

// A template's source as Jinja sees it: newlines normalized to \n, one trailing newline dropped.
std::string normalize_template_source(std::string_view source);

// "chat template line L, column C: " for a byte offset into the normalized source.
std::string template_location(std::string_view source, size_t offset);

// Tokens of the normalized source; throws FormatError with the position on bad syntax.
std::vector<Token> lex_template(const std::string& source);

}  // namespace qls::jinja
