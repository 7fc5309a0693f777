// Ollama Modelfile syntax (ollama docs/modelfile.md): FROM, TEMPLATE """...""" with .System,
// .Messages (.Role, .Content), PARAMETER stop "<token>". llama.cpp/Ollama add BOS themselves
// (tokenizer.ggml.add_bos_token), so the templates leave it out.
#include "core/export/ollama_modelfile.h"

#include <algorithm>
#include <vector>

#include "core/util/atomic_file.h"

namespace qls {

namespace {

struct FamilyText {
    const char* tmpl;
    std::vector<const char*> stops;
};

FamilyText family_text(ChatFamily f) {
    switch (f) {
        case ChatFamily::ChatMl:
            return {
                "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
                "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
                "<|im_start|>assistant\n",
                {"<|im_start|>", "<|im_end|>"}};
        case ChatFamily::Llama3:
            return {
                "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ "
                "end }}"
                "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
                "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
                {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}};
        case ChatFamily::Mistral:
            return {
                "{{- range $i, $_ := .Messages }}{{- if eq .Role \"user\" }}[INST] "
                "{{ if and $.System (eq $i 0) }}{{ $.System }}\n\n{{ end }}{{ .Content }} [/INST]"
                "{{- else if eq .Role \"assistant\" }}{{ .Content }}</s>{{- end }}{{- end }}",
                {"[INST]", "[/INST]"}};
        case ChatFamily::Zephyr:
            return {
                "{{- if .System }}<|system|>\n{{ .System }}</s>\n{{ end }}"
                "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}</s>\n{{ end }}<|assistant|>\n",
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

std::string ollama_modelfile(const std::string& gguf_file, const GgufTokenizerData& tokenizer) {
    std::string s =
        "# Made by QLoRA Studio. Create the Ollama model with: ollama create <name> -f Modelfile\n";
    s += "FROM ./" + gguf_file + "\n";
    const ChatFamily family = chat_family(tokenizer.chat_template);
    const FamilyText text = family_text(family);
    if (!text.tmpl) {
        s += "# The chat template matches no known family (ChatML, Llama-3, Mistral, Zephyr): raw prompts.\n";
        s += "TEMPLATE \"\"\"{{ .Prompt }}\"\"\"\n";
    } else {
        s += std::string("TEMPLATE \"\"\"") + text.tmpl + "\"\"\"\n";
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

void write_ollama_modelfile(const std::filesystem::path& path, const std::string& gguf_file,
                            const GgufTokenizerData& tokenizer) {
    write_file_atomic(path, ollama_modelfile(gguf_file, tokenizer));
}

}  // namespace qls
