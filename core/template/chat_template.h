// Renders a model's chat_template byte for byte as transformers' apply_chat_template does
// (src/transformers/utils/chat_template_utils.py): Jinja2's ImmutableSandboxedEnvironment with
// trim_blocks, lstrip_blocks, loop controls and {% generation %}, the tojson override
// (json.dumps, ensure_ascii=False), raise_exception and strftime_now, default (lenient)
// Undefined, no autoescape.
//
// The context's keys become template variables; like apply_chat_template, `tools` and
// `documents` default to None and `add_generation_prompt` to false. Pass the context as
// nlohmann::ordered_json to keep key order where the template prints dicts (tool schemas via
// tojson): nlohmann::json sorts keys, Python dicts keep insertion order.
//
// Errors: a template outside the supported subset, or malformed, throws FormatError at
// construction naming line and column; raise_exception(msg) in the template throws DataError
// whose message is msg; any other render failure throws DataError with the position.
#pragma once
#include <nlohmann/json.hpp>

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/util/error.h"

namespace qls {

namespace jinja {
struct ParsedTemplate;
}

struct ChatRenderOptions {
    // What strftime_now() formats (tm_year, tm_mon, tm_mday, tm_hour, ... as from localtime);
    // nullopt: the local clock, as transformers. Tests fix it for reproducible output.
    std::optional<std::tm> now;
};

struct ChatRenderResult {
    std::string text;
    // [begin, end) byte ranges of `text` rendered inside {% generation %} ... {% endgeneration %}
    // (transformers' return_assistant_tokens_mask), in template order.
    std::vector<std::pair<size_t, size_t>> generation_spans;
};

class ChatTemplate {
public:
    // Parses once; throws FormatError on syntax errors and unsupported constructs.
    explicit ChatTemplate(std::string_view source);

    std::string render(const nlohmann::json& context, const ChatRenderOptions& options = {}) const;
    std::string render(const nlohmann::ordered_json& context, const ChatRenderOptions& options = {}) const;
    ChatRenderResult render_with_spans(const nlohmann::ordered_json& context, const ChatRenderOptions& options = {}) const;

private:
    std::shared_ptr<const jinja::ParsedTemplate> m_parsed;  // immutable: renders may run concurrently
};

// One-shot parse and render.
std::string render_chat_template(std::string_view template_source, const nlohmann::json& context);
std::string render_chat_template(std::string_view template_source, const nlohmann::ordered_json& context);

}  // namespace qls
