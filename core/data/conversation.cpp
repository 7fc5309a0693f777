#include "core/data/conversation.h"

namespace qls {

std::string_view role_name(Role role) {
    switch (role) {
        case Role::System: return "system";
        case Role::User: return "user";
        case Role::Assistant: return "assistant";
    }
    return "user";
}

std::vector<Message> messages_for_chat(const Conversation& c) {
    std::vector<Message> out = c.messages;
    if (c.input.empty()) return out;
    for (Message& m : out) {
        if (m.role != Role::User) continue;
        m.content += m.content.empty() ? c.input : "\n\n" + c.input;
        break;
    }
    return out;
}

}  // namespace qls
