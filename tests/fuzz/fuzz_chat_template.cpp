// libFuzzer target: arbitrary bytes as a model's chat template (tokenizer_config.json's
// chat_template: untrusted, it comes with a downloaded model). Parsing must succeed or throw a
// qls::Error; a template that parses is rendered against the contexts transformers passes
// (messages of every role, a tool list, add_generation_prompt both ways), where every failure
// must again be a qls::Error: never a crash, a hang past the render limits or bad_alloc.
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/template/chat_template.h"
#include "core/util/error.h"

namespace {

nlohmann::ordered_json context(bool generation_prompt) {
    using J = nlohmann::ordered_json;
    J messages = J::array();
    messages.push_back({{"role", "system"}, {"content", "You are terse."}});
    messages.push_back({{"role", "user"}, {"content", "Zw\xC3\xB6lf? <|im_end|> {{ x }}"}});
    messages.push_back({{"role", "assistant"}, {"content", "12"}});
    messages.push_back({{"role", "tool"}, {"content", J::array({J{{"type", "text"}, {"text", "t"}}})}});
    J tools = J::array({J{{"type", "function"},
                          {"function", {{"name", "f"}, {"parameters", {{"type", "object"}}}}}}});
    return J{{"messages", messages},     {"tools", tools},        {"add_generation_prompt", generation_prompt},
             {"bos_token", "<s>"},       {"eos_token", "</s>"},   {"custom", {{"a", 1}, {"b", nullptr}}}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view source(reinterpret_cast<const char*>(data), size);
    qls::ChatRenderOptions options;
    options.now = std::tm{};  // strftime_now() reproducible
    try {
        const qls::ChatTemplate tmpl(source);
        for (bool generation_prompt : {false, true}) {
            try {
                (void)tmpl.render_with_spans(context(generation_prompt), options);
            } catch (const qls::Error&) {
            }
        }
    } catch (const qls::Error&) {
    }
    return 0;
}
