// Ollama Modelfile syntax (ollama docs/modelfile.md): FROM, TEMPLATE """...""" over .Messages
// (.Role, .Content), SYSTEM """...""", PARAMETER stop "<token>". llama.cpp/Ollama add BOS themselves
// (tokenizer.ggml.add_bos_token), so the templates leave it out.
#include "core/export/ollama_modelfile.h"

#include <algorithm>
#include <vector>

#include "core/model/chat_prompt_builder.h"
#include "core/tokenizer/gguf_tokenizer.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace qls {

namespace {

struct FamilyText {
    const char* tmpl;
    std::vector<const char*> stops;
};

// Ollama keeps system messages in .Messages as well as joining them into .System (template.go
// collate; a Modelfile SYSTEM arrives as a first system message), so the templates render
// system messages by role from .Messages alone and never print .System: rendering both wrote the
// system prompt twice.
FamilyText family_text(ChatFamily f) {
    switch (f) {
        case ChatFamily::ChatMl:
            return {"{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
                    "<|im_start|>assistant\n",
                    {"<|im_start|>", "<|im_end|>"}};
        case ChatFamily::Llama3:
            return {"{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
                    "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
                    {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}};
        case ChatFamily::Mistral:
            // Mistral's [INST] templates write no system message at all (v0.1 to v0.3 drop it).
            return {"{{- range .Messages }}{{- if eq .Role \"user\" }}[INST] {{ .Content }} [/INST]"
                    "{{- else if eq .Role \"assistant\" }}{{ .Content }}</s>{{- end }}{{- end }}",
                    {"[INST]", "[/INST]"}};
        case ChatFamily::Zephyr:
            return {"{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}</s>\n{{ end }}<|assistant|>\n",
                    {"<|system|>", "<|user|>", "<|assistant|>", "</s>"}};
        case ChatFamily::None:
            break;
    }
    return {nullptr, {}};
}

bool has(std::string_view s, std::string_view needle) {
    return s.find(needle) != std::string_view::npos;
}

}  // namespace

ChatFamily chat_family(std::string_view t) {
    if (has(t, "<|im_start|>")) return ChatFamily::ChatMl;
    if (has(t, "<|start_header_id|>")) return ChatFamily::Llama3;
    if (has(t, "[INST]")) return ChatFamily::Mistral;
    if (has(t, "<|user|>") && has(t, "<|assistant|>")) return ChatFamily::Zephyr;
    return ChatFamily::None;
}

std::filesystem::path ollama_modelfile_path(const std::filesystem::path& gguf) {
    return gguf.parent_path() / (gguf.stem().string() + ".Modelfile");
}

std::string chat_template_default_system(const GgufTokenizerData& tokenizer) {
    if (tokenizer.chat_template.empty()) return {};
    return with_context("while finding the default system prompt of the chat template", [&] {
        const Tokenizer tok = tokenizer_from_gguf(tokenizer);
        return ChatPromptBuilder(tok, LlamaConfig{}, TemplateKind::ModelTemplate).default_system();
    });
}

std::string ollama_modelfile(const std::string& gguf_file, const GgufTokenizerData& tokenizer) {
    const std::string modelfile = ollama_modelfile_path(gguf_file).string();
    std::string s = "# Made by QLoRA Studio. Create the Ollama model with: ollama create <name> -f " + modelfile + "\n";
    s += "FROM ./" + gguf_file + "\n";
    const ChatFamily family = chat_family(tokenizer.chat_template);
    const FamilyText text = family_text(family);
    if (!text.tmpl) {
        s += "# The chat template matches no known family (ChatML, Llama-3, Mistral, Zephyr): raw prompts.\n";
        s += "TEMPLATE \"\"\"{{ .Prompt }}\"\"\"\n";
    } else {
        s += std::string("TEMPLATE \"\"\"") + text.tmpl + "\"\"\"\n";
        // The chat template writes this system prompt when the chat has none; Ollama sends SYSTEM
        // as the first message of such a chat, so its prompts equal the template's (and training's).
        const std::string system = chat_template_default_system(tokenizer);
        if (system.find("\"\"\"") != std::string::npos)
            s += "# The chat template's default system prompt holds \"\"\", which a Modelfile cannot quote: left out.\n";
        else if (!system.empty())
            s += "SYSTEM \"\"\"" + system + "\"\"\"\n";
    }
    std::vector<std::string> stops(text.stops.begin(), text.stops.end());
    // The model's own end-of-sequence token ends a turn too.
    if (tokenizer.eos_id && std::size_t(*tokenizer.eos_id) < tokenizer.tokens.size()) {
        const std::string& eos = tokenizer.tokens[std::size_t(*tokenizer.eos_id)];
        if (std::find(stops.begin(), stops.end(), eos) == stops.end()) stops.push_back(eos);
    }
    for (const std::string& stop : stops) s += "PARAMETER stop \"" + stop + "\"\n";
    return s;
}

void write_ollama_modelfile(const std::filesystem::path& gguf, const GgufTokenizerData& tokenizer) {
    write_file_atomic(ollama_modelfile_path(gguf), ollama_modelfile(gguf.filename().string(), tokenizer));
}

}  // namespace qls
