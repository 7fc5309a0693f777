// Layouts as their models publish them: ChatML (OpenAI/Qwen), Meta's Llama-3 and Llama-2-chat
// templates, Stanford Alpaca's prompt (tatsu-lab/stanford_alpaca train.py PROMPT_DICT), and
// HuggingFaceH4/zephyr-7b-beta's template.
#include "core/data/named_templates.h"

#include "core/data/chat_format.h"

namespace qls {
namespace {

std::string trim(std::string_view s) {
    const char* ws = " \t\n\r";
    const std::size_t b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    return std::string(s.substr(b, s.find_last_not_of(ws) - b + 1));
}

bool is_assistant(const Message& m) { return m.role == Role::Assistant; }

std::vector<TextPiece> chatml(const Conversation& c) {
    std::vector<TextPiece> out;
    for (const Message& m : messages_for_chat(c)) {
        const bool a = is_assistant(m);
        out.push_back({"<|im_start|>" + std::string(role_name(m.role)) + "\n", false});
        out.push_back({m.content + "<|im_end|>", a});
        out.push_back({"\n", false});
    }
    return out;
}

std::vector<TextPiece> llama3(const Conversation& c) {
    std::vector<TextPiece> out;
    for (const Message& m : messages_for_chat(c)) {
        out.push_back({"<|start_header_id|>" + std::string(role_name(m.role)) + "<|end_header_id|>\n\n", false});
        out.push_back({trim(m.content) + "<|eot_id|>", is_assistant(m)});
    }
    return out;
}

std::vector<TextPiece> llama2(const Conversation& c, const std::string& bos, const std::string& eos) {
    std::vector<TextPiece> out;
    std::string system;
    for (const Message& m : messages_for_chat(c)) {
        if (m.role == Role::System) {
            system = trim(m.content);
        } else if (m.role == Role::User) {
            std::string sys_block = system.empty() ? "" : "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
            out.push_back({bos + "[INST] " + sys_block + trim(m.content) + " [/INST]", false});
            system.clear();
        } else {
            out.push_back({" " + trim(m.content) + " " + eos, true});
        }
    }
    return out;
}

std::vector<TextPiece> alpaca(const Conversation& c, const std::string& eos) {
    std::vector<TextPiece> out;
    std::string preamble = c.input.empty()
        ? "Below is an instruction that describes a task. Write a response that appropriately completes the request."
        : "Below is an instruction that describes a task, paired with an input that provides further context. "
          "Write a response that appropriately completes the request.";
    std::string prompt;
    bool first_user = true;
    for (const Message& m : c.messages) {
        if (m.role == Role::System) {
            preamble = m.content;
        } else if (m.role == Role::User) {
            prompt += "### Instruction:\n" + m.content + "\n\n";
            if (first_user && !c.input.empty()) prompt += "### Input:\n" + c.input + "\n\n";
            first_user = false;
        } else {
            out.push_back({(out.empty() ? preamble + "\n\n" : "\n\n") + prompt + "### Response:\n", false});
            out.push_back({m.content + eos, true});
            prompt.clear();
        }
    }
    return out;
}

std::vector<TextPiece> zephyr(const Conversation& c, const std::string& eos) {
    std::vector<TextPiece> out;
    for (const Message& m : messages_for_chat(c)) {
        out.push_back({"<|" + std::string(role_name(m.role)) + "|>\n", false});
        out.push_back({m.content + eos, is_assistant(m)});
        out.push_back({"\n", false});
    }
    return out;
}

std::vector<TextPiece> raw(const Conversation& c, const std::string& eos) {
    std::vector<TextPiece> out;
    for (const Message& m : messages_for_chat(c)) out.push_back({is_assistant(m) ? m.content + eos : m.content, is_assistant(m)});
    return out;
}

}  // namespace

std::vector<std::string> named_template_tokens(TemplateKind kind) {
    switch (kind) {
        case TemplateKind::ChatML: return {"<|im_start|>", "<|im_end|>"};
        case TemplateKind::Llama3: return {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
        default: return {};
    }
}

std::vector<TextPiece> named_template_pieces(TemplateKind kind, const Conversation& c, const std::string& bos,
                                             const std::string& eos) {
    if (c.plain_text) return raw(c, eos);
    switch (kind) {
        case TemplateKind::ChatML: return chatml(c);
        case TemplateKind::Llama3: return llama3(c);
        case TemplateKind::Llama2: return llama2(c, bos, eos);
        case TemplateKind::Alpaca: return alpaca(c, eos);
        case TemplateKind::Zephyr: return zephyr(c, eos);
        case TemplateKind::Raw: return raw(c, eos);
        case TemplateKind::ModelTemplate: break;
    }
    return raw(c, eos);
}

}  // namespace qls
