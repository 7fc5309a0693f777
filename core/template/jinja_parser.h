// Parser for the Jinja subset chat templates use (jinja2/parser.py, Jinja 3.1 grammar and
// operator precedence). Anything outside it fails here, naming line and column, so a template
// we cannot render exactly is rejected before any prompt is built.
#pragma once
#include <string>
#include <string_view>

#include "core/template/jinja_ast.h"

namespace qls::jinja {

struct ParsedTemplate {
    std::string source;  // normalized source, for error positions
    Body body;
};

ParsedTemplate parse_template(std::string_view source);

}  // namespace qls::jinja
