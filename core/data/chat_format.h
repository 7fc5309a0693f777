// Rendering a Conversation with a chat template and masking the loss to the responses.
//
// Templates: the model's own (tokenizer_config.json chat_template, rendered by our Jinja
// interpreter; assistant turns found as chat_spans.h says), or a named one:
//   ChatML   <|im_start|>role\ncontent<|im_end|>\n
//   Llama3   <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> (content trimmed, as Meta's)
//   Llama2   <s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s> (Llama-2-chat; bos and
//            eos are the tokenizer's; Mistral's [INST] format without the system block and spaces)
//   Alpaca   the Stanford Alpaca prompt ("### Instruction:", "### Input:", "### Response:") + EOS
//   Zephyr   <|role|>\ncontent</s>\n (eos is the tokenizer's)
//   Raw      the contents back to back, EOS after each response
// Plain-text records (the `text` form) are always text + EOS, all trained.
//
// Trained by default: each assistant turn and the token that ends it (<|im_end|>, <|eot_id|>,
// EOS), so the model learns to stop; everything else is masked unless train_on_inputs. A BOS is
// prepended when the tokenizer adds one (add_bos_token, else its post-processor), never a second
// when the rendered text already starts with it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/conversation.h"
#include "core/data/piece_tokenizer.h"
#include "core/template/chat_template.h"

namespace qls {

class Tokenizer;

enum class TemplateKind { ModelTemplate, ChatML, Llama3, Llama2, Alpaca, Zephyr, Raw };

// HF: add_bos_token when tokenizer_config.json says so, else whatever the post-processor does.
bool tokenizer_adds_bos(const Tokenizer& tokenizer);

std::string_view template_kind_name(TemplateKind kind);  // "model", "chatml", "llama3", ...
std::optional<TemplateKind> parse_template_kind(std::string_view name);

struct TokenizedExample {
    std::vector<std::int32_t> ids;
    std::vector<std::uint8_t> trained;  // per token: 1 when it is a label (the loss predicts it)
    std::size_t line = 0;               // the record's line in its file
    std::size_t full_length = 0;        // tokens before truncation
    bool truncated = false;

    std::size_t trained_tokens() const;
};

class ChatFormat {
public:
    // Checks what the template needs: a named template's special tokens must be single added
    // tokens of the tokenizer, EOS must exist where it is appended; ConfigError naming the
    // missing token otherwise. ModelTemplate renders `model_template`, or the tokenizer's own
    // when that is empty (ConfigError when both are). The tokenizer must outlive this object.
    ChatFormat(TemplateKind kind, const Tokenizer& tokenizer, std::string_view model_template = {});
    ~ChatFormat();
    ChatFormat(ChatFormat&&) noexcept;

    // The conversation as text pieces, trained or not (train_on_inputs not applied).
    std::vector<TextPiece> render(const Conversation& c) const;
    // Rendered, tokenized and masked (not truncated). DataError when the template refuses the
    // conversation or the text cannot be tokenized.
    TokenizedExample tokenize(const Conversation& c, bool train_on_inputs) const;

    // What strftime_now() prints in model templates (default: the clock when constructed).
    void set_render_options(ChatRenderOptions options) { m_render_options = options; }

    TemplateKind kind() const { return m_kind; }
    bool adds_bos() const { return m_add_bos; }

private:
    TemplateKind m_kind;
    const Tokenizer* m_tokenizer;
    std::unique_ptr<ChatTemplate> m_template;  // ModelTemplate only
    ChatRenderOptions m_render_options;        // strftime_now fixed once, so every render agrees
    std::vector<std::string> m_specials;       // special token strings (ModelTemplate)
    std::string m_bos, m_eos;                  // token strings; empty when the tokenizer has none
    bool m_add_bos = false;
};

}  // namespace qls
