// The named chat templates (chat_format.h lists their layouts) as text pieces, trained or not.
#pragma once
#include <string>
#include <vector>

#include "core/data/conversation.h"
#include "core/data/piece_tokenizer.h"

namespace qls {

enum class TemplateKind;

// The special token strings a named template writes (beyond bos/eos), for the vocabulary check.
std::vector<std::string> named_template_tokens(TemplateKind kind);

// `bos` and `eos` are the tokenizer's token strings.
std::vector<TextPiece> named_template_pieces(TemplateKind kind, const Conversation& c, const std::string& bos,
                                             const std::string& eos);

}  // namespace qls
