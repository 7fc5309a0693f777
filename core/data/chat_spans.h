// Where the assistant turns are in a conversation rendered by a model's own chat template.
//
// A template that marks them with {% generation %} (transformers' assistant mask) is taken at
// its word, less the assistant header the generation prompt supplies. Otherwise each assistant
// turn i is found by rendering turn by turn: P = messages before i with the generation prompt,
// Q = messages up to and including i. The turn starts where P and Q stop agreeing (right after
// the generation prompt, or where the template's history form departs from it) and ends where
// Q stops agreeing with the whole conversation's rendering (the end of Q, or its end-of-turn
// token when the template closes a last turn differently, as Phi-3 appending EOS). Either way the
// end is cut back to just after the last special token when only whitespace follows it
// ("...<|im_end|>\n" trains "<|im_end|>", not the "\n"), so the end-of-turn token is trained
// and the next turn's layout is not.
//
// A turn that the whole rendering shows differently from Q before its end-of-turn token is left
// untrained: the template renders it differently once later turns follow (Qwen3 drops the
// reasoning block of earlier answers), so its text in the training sequence is not what the
// model would generate.
#pragma once
#include <nlohmann/json.hpp>

#include <span>
#include <string>
#include <vector>

#include "core/data/conversation.h"
#include "core/data/piece_tokenizer.h"
#include "core/template/chat_template.h"

namespace qls {

// `context` holds the special token strings (bos_token, ...); messages and
// add_generation_prompt are set here. `specials` are the tokenizer's special token strings.
// DataError when the template fails on this conversation (raise_exception and the like).
std::vector<TextPiece> model_template_pieces(const ChatTemplate& tmpl, const nlohmann::ordered_json& context,
                                             std::span<const Message> messages, std::span<const std::string> specials,
                                             const ChatRenderOptions& options);

// End of the span [begin, end) of `text` cut back to just after the last special token in it
// when only whitespace follows that token; `end` otherwise.
std::size_t end_after_last_special(std::string_view text, std::size_t begin, std::size_t end,
                                   std::span<const std::string> specials);

}  // namespace qls
