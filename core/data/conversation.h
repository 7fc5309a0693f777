// A training example in chat form, whatever file form it came from: every record form
// (Alpaca, chat messages, ShareGPT, prompt/completion, plain text) becomes one Conversation
// before a template renders it.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace qls {

enum class Role { System, User, Assistant };

std::string_view role_name(Role role);  // "system", "user", "assistant" (the chat template names)

struct Message {
    Role role = Role::User;
    std::string content;
};

struct Conversation {
    std::vector<Message> messages;
    // Alpaca's "input" field, kept apart so the Alpaca template can print its "### Input:"
    // section; every other template sees it appended to the first user message (see
    // messages_for_chat).
    std::string input;
    // Plain text (the `text` form): no prompt, every token trained, whatever template is chosen.
    bool plain_text = false;
};

// The messages as chat templates see them: `input` joined to the first user message by a
// blank line.
std::vector<Message> messages_for_chat(const Conversation& c);

}  // namespace qls
