#include "core/data/record_form.h"

#include <algorithm>

#include "core/util/error.h"

namespace qls {
namespace {

using ojson = nlohmann::ordered_json;

bool blank(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

// A string field; nullopt when absent or null. DataError when it has another type.
std::optional<std::string> optional_string(const ojson& obj, const std::string& key, std::string_view where = {}) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    QLS_CHECK(DataError, it->is_string(), "field '", key, "'", where, " is ", it->type_name(), ", expected a string");
    return it->get<std::string>();
}

std::string required_string(const ojson& obj, const std::string& key, std::string_view where = {}) {
    auto s = optional_string(obj, key, where);
    QLS_CHECK(DataError, s.has_value(), "missing field '", key, "'", where);
    return *s;
}

const ojson& required_array(const ojson& obj, const std::string& key) {
    auto it = obj.find(key);
    QLS_CHECK(DataError, it != obj.end(), "missing field '", key, "'");
    QLS_CHECK(DataError, it->is_array(), "field '", key, "' is ", it->type_name(), ", expected a list of messages");
    return *it;
}

Role chat_role(std::string_view name, std::string_view where) {
    if (name == "system") return Role::System;
    if (name == "user") return Role::User;
    if (name == "assistant") return Role::Assistant;
    throw DataError(str_cat("unsupported role '", name, "'", where, " (expected system, user or assistant)"));
}

Role sharegpt_role(std::string_view name, std::string_view where) {
    if (name == "system") return Role::System;
    if (name == "human" || name == "user") return Role::User;
    if (name == "gpt" || name == "assistant" || name == "chatgpt" || name == "model") return Role::Assistant;
    throw DataError(str_cat("unsupported speaker '", name, "'", where, " (expected system, human or gpt)"));
}

Conversation from_turns(const ojson& record, const FieldMapping& m, bool sharegpt) {
    const ojson& turns = required_array(record, sharegpt ? m.conversations : m.messages);
    const std::string& role_key = sharegpt ? m.from : m.role;
    const std::string& text_key = sharegpt ? m.value : m.content;
    Conversation c;
    if (auto system = optional_string(record, m.system); system && !system->empty())
        c.messages.push_back({Role::System, *system});
    for (std::size_t i = 0; i < turns.size(); ++i) {
        const std::string where = str_cat(" in message ", i + 1);
        QLS_CHECK(DataError, turns[i].is_object(), "message ", i + 1, " is ", turns[i].type_name(), ", expected an object");
        const std::string role = required_string(turns[i], role_key, where);
        Message msg{sharegpt ? sharegpt_role(role, where) : chat_role(role, where), required_string(turns[i], text_key, where)};
        QLS_CHECK(DataError, msg.role != Role::Assistant || !blank(msg.content), "empty response (message ", i + 1, ")");
        c.messages.push_back(std::move(msg));
    }
    auto last = std::find_if(c.messages.rbegin(), c.messages.rend(), [](const Message& x) { return x.role == Role::Assistant; });
    QLS_CHECK(DataError, last != c.messages.rend(), "the conversation has no assistant turn");
    c.messages.erase(last.base(), c.messages.end());
    return c;
}

Conversation from_alpaca(const ojson& record, const FieldMapping& m) {
    Conversation c;
    if (auto system = optional_string(record, m.system); system && !system->empty()) c.messages.push_back({Role::System, *system});
    std::string instruction = required_string(record, m.instruction);
    c.input = optional_string(record, m.input).value_or("");
    QLS_CHECK(DataError, !blank(instruction) || !blank(c.input), "empty instruction (field '", m.instruction, "')");
    std::string output = required_string(record, m.output);
    QLS_CHECK(DataError, !blank(output), "empty response (field '", m.output, "')");
    c.messages.push_back({Role::User, std::move(instruction)});
    c.messages.push_back({Role::Assistant, std::move(output)});
    return c;
}

}  // namespace

std::string_view data_form_name(DataForm form) {
    switch (form) {
        case DataForm::Auto: return "auto";
        case DataForm::Alpaca: return "alpaca";
        case DataForm::Chat: return "chat";
        case DataForm::ShareGpt: return "sharegpt";
        case DataForm::PromptCompletion: return "prompt-completion";
        case DataForm::Text: return "text";
    }
    return "auto";
}

std::optional<DataForm> parse_data_form(std::string_view name) {
    for (DataForm f : {DataForm::Auto, DataForm::Alpaca, DataForm::Chat, DataForm::ShareGpt, DataForm::PromptCompletion,
                       DataForm::Text})
        if (data_form_name(f) == name) return f;
    return std::nullopt;
}

std::optional<DataForm> detect_form(const ojson& record, const FieldMapping& m) {
    if (!record.is_object()) return std::nullopt;
    auto has = [&](const std::string& key) { return record.contains(key); };
    if (has(m.messages)) return DataForm::Chat;
    if (has(m.conversations)) return DataForm::ShareGpt;
    if (has(m.instruction) && has(m.output)) return DataForm::Alpaca;
    if (has(m.prompt) && has(m.completion)) return DataForm::PromptCompletion;
    if (has(m.text)) return DataForm::Text;
    return std::nullopt;
}

DataForm detect_form(std::span<const RawRecord> records, const FieldMapping& mapping, std::string_view source) {
    for (const RawRecord& r : records)
        if (auto form = detect_form(r.value, mapping)) return *form;
    std::vector<std::string> keys;
    if (!records.empty())
        for (const auto& [key, value] : records.front().value.items()) keys.push_back(key);
    throw ConfigError(str_cat(source, ": cannot tell the dataset form: the first record has the keys ", keys, "; expected '",
                              mapping.messages, "', '", mapping.conversations, "', '", mapping.instruction, "' + '",
                              mapping.output, "', '", mapping.prompt, "' + '", mapping.completion, "' or '", mapping.text,
                              "'. Choose the form or map the fields."));
}

Conversation to_conversation(const ojson& record, DataForm form, const FieldMapping& m) {
    switch (form) {
        case DataForm::Alpaca: return from_alpaca(record, m);
        case DataForm::Chat: return from_turns(record, m, false);
        case DataForm::ShareGpt: return from_turns(record, m, true);
        case DataForm::PromptCompletion: {
            Conversation c;
            c.messages.push_back({Role::User, required_string(record, m.prompt)});
            std::string completion = required_string(record, m.completion);
            QLS_CHECK(DataError, !blank(completion), "empty response (field '", m.completion, "')");
            c.messages.push_back({Role::Assistant, std::move(completion)});
            return c;
        }
        case DataForm::Text: {
            std::string text = required_string(record, m.text);
            QLS_CHECK(DataError, !blank(text), "empty text (field '", m.text, "')");
            Conversation c;
            c.messages.push_back({Role::Assistant, std::move(text)});
            c.plain_text = true;
            return c;
        }
        case DataForm::Auto: break;
    }
    throw InternalError("to_conversation: the form must be resolved before conversion");
}

}  // namespace qls
