// apply_chat_template's rendering step: the context's keys as variables, with the defaults
// transformers always passes (tools=None, documents=None, add_generation_prompt=False).
#include "core/template/chat_template.h"

#include "core/template/jinja_interpreter.h"
#include "core/template/jinja_parser.h"

namespace qls {
namespace {

template <typename Json>
std::vector<std::pair<std::string, jinja::Value>> template_vars(const Json& context) {
    QLS_CHECK(DataError, context.is_object(), "chat template context must be a JSON object, got ", context.type_name());
    std::vector<std::pair<std::string, jinja::Value>> vars;
    vars.reserve(context.size() + 3);
    for (auto it = context.begin(); it != context.end(); ++it) vars.emplace_back(it.key(), jinja::Value::from_json(it.value()));
    for (const char* key : {"tools", "documents"})
        if (!context.contains(key)) vars.emplace_back(key, jinja::Value::none());
    if (!context.contains("add_generation_prompt")) vars.emplace_back("add_generation_prompt", jinja::Value(false));
    return vars;
}

template <typename Json>
ChatRenderResult render_impl(const jinja::ParsedTemplate& parsed, const Json& context, const ChatRenderOptions& options) {
    jinja::Interpreter interpreter(parsed, options.now ? &*options.now : nullptr);
    ChatRenderResult result;
    result.text = interpreter.render(template_vars(context));
    result.generation_spans = interpreter.generation_spans();
    return result;
}

}  // namespace

ChatTemplate::ChatTemplate(std::string_view source)
    : m_parsed(std::make_shared<const jinja::ParsedTemplate>(jinja::parse_template(source))) {}

std::string ChatTemplate::render(const nlohmann::json& context, const ChatRenderOptions& options) const {
    return render_impl(*m_parsed, context, options).text;
}

std::string ChatTemplate::render(const nlohmann::ordered_json& context, const ChatRenderOptions& options) const {
    return render_impl(*m_parsed, context, options).text;
}

ChatRenderResult ChatTemplate::render_with_spans(const nlohmann::ordered_json& context, const ChatRenderOptions& options) const {
    return render_impl(*m_parsed, context, options);
}

std::string render_chat_template(std::string_view template_source, const nlohmann::json& context) {
    return ChatTemplate(template_source).render(context);
}

std::string render_chat_template(std::string_view template_source, const nlohmann::ordered_json& context) {
    return ChatTemplate(template_source).render(context);
}

}  // namespace qls
