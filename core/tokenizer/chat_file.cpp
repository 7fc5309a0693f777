#include "core/tokenizer/chat_file.h"

#include <nlohmann/json.hpp>

#include "core/template/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"

namespace qls {

std::string render_chat_file(const Tokenizer& tokenizer, const std::filesystem::path& chat_file,
                             bool add_generation_prompt) {
    const std::string src = chat_file.string();
    QLS_CHECK(ConfigError, !tokenizer.chat_template().empty(), "the tokenizer has no chat template");
    nlohmann::ordered_json doc;
    try {
        doc = nlohmann::ordered_json::parse(read_text_file(chat_file));
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(str_cat(src, ": not valid JSON: ", e.what()));
    }
    const nlohmann::ordered_json* messages = &doc;
    if (doc.is_object()) {
        QLS_CHECK(FormatError, doc.contains("messages"), src, ": expected a list of messages or an object with \"messages\"");
        messages = &doc["messages"];
    }
    QLS_CHECK(FormatError, messages->is_array(), src, ": \"messages\" must be a list, got ", messages->type_name());
    nlohmann::ordered_json context;
    context["messages"] = *messages;
    const TokenizerConfig& cfg = tokenizer.config();
    if (cfg.bos_token) context["bos_token"] = *cfg.bos_token;
    if (cfg.eos_token) context["eos_token"] = *cfg.eos_token;
    if (cfg.unk_token) context["unk_token"] = *cfg.unk_token;
    if (cfg.pad_token) context["pad_token"] = *cfg.pad_token;
    context["add_generation_prompt"] = add_generation_prompt;
    return with_context(str_cat("while rendering the chat template for ", src),
                        [&] { return render_chat_template(tokenizer.chat_template(), context); });
}

std::string format_ids(std::span<const int> ids) {
    std::string out;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ' ';
        out += std::to_string(ids[i]);
    }
    return out;
}

}  // namespace qls
