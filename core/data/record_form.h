// The forms a training record comes in, and how each becomes a Conversation. The form is
// detected from the first record whose keys match one (the user may override it), and every
// key can be renamed through a FieldMapping ("the instruction is in column 'question'").
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/data/conversation.h"
#include "core/data/dataset_reader.h"

namespace qls {

enum class DataForm {
    Auto,
    Alpaca,            // instruction, optional input, output (and optional system)
    Chat,              // messages: [{role: system|user|assistant, content}]
    ShareGpt,          // conversations: [{from: system|human|gpt, value}]
    PromptCompletion,  // prompt, completion
    Text,              // text: plain text, every token trained
};

std::string_view data_form_name(DataForm form);  // "alpaca", "chat", "sharegpt", ...
std::optional<DataForm> parse_data_form(std::string_view name);

struct FieldMapping {
    std::string instruction = "instruction", input = "input", output = "output", system = "system";
    std::string messages = "messages", role = "role", content = "content";
    std::string conversations = "conversations", from = "from", value = "value";
    std::string prompt = "prompt", completion = "completion";
    std::string text = "text";
};

// The form a record's keys announce, in this order: messages, conversations,
// instruction + output, prompt + completion, text. nullopt when none matches.
std::optional<DataForm> detect_form(const nlohmann::ordered_json& record, const FieldMapping& mapping);

// The form of the first record that announces one; ConfigError naming the first record's keys
// when none does. `source` names the file.
DataForm detect_form(std::span<const RawRecord> records, const FieldMapping& mapping, std::string_view source);

// One record as a Conversation. Throws DataError saying what is wrong (missing or mistyped
// field, unknown role, empty response, no assistant turn). Messages after the last assistant
// turn are dropped: nothing would be trained on them.
Conversation to_conversation(const nlohmann::ordered_json& record, DataForm form, const FieldMapping& mapping);

}  // namespace qls
