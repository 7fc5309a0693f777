// The playground's conversation: the user's messages, shared by both sides, and each side's own
// replies; and the prompts they make (chat_prompt_builder.h does the formatting and the context
// limit). The page shows it and drives the generation; this class only keeps the turns.
#pragma once
#include <QList>
#include <QString>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/model/chat_prompt_builder.h"
#include "ui/chat_transcript.h"
#include "ui/generation_engine.h"

namespace qls::ui {

class PlaygroundChat {
public:
    struct Turn {
        QString user;
        // nullopt: that side gave no reply (it did not run, failed, or was stopped before its
        // first token); left out of that side's later prompts.
        std::array<std::optional<QString>, 2> reply;
        std::array<std::size_t, 2> dropped{};  // exchanges left out of that side's prompt
    };

    // The model and its tokenizer (loaded on first use); the formatting is rebuilt for it.
    void setModel(std::shared_ptr<SharedModel> model);
    const std::shared_ptr<SharedModel>& model() const { return m_model; }
    // ConfigError or FormatError when the model cannot use `choice` (see ChatPromptBuilder).
    void setFormatting(ChatTemplateChoice choice);
    // nullptr until a model and a formatting are set.
    const ChatPromptBuilder* builder() const { return m_builder.get(); }

    const std::vector<Turn>& turns() const { return m_turns; }
    void clear() { m_turns.clear(); }

    // Both sides' prompts for `message` after the turns so far; for the last turn's message
    // again, without its replies, when `regenerate`. ConfigError when it cannot fit the context.
    std::array<ChatPrompt, 2> prompts(const QString& system, const QString& message, bool regenerate,
                                      std::int64_t maxNewTokens) const;
    // Starts a turn (or restarts the last one when `regenerate`): `running` sides get an empty
    // reply to stream into, the others none.
    void begin(const QString& message, bool regenerate, const std::array<ChatPrompt, 2>& prompts,
               const std::array<bool, 2>& running);
    void appendReply(int side, const QString& text);
    void dropReply(int side);  // the last turn's, when that side failed or stopped before replying
    QString lastReply(int side) const;

    // The transcript of one side: the system prompt, the turns, where its prompt left exchanges out.
    QList<ChatTranscript::Block> blocks(int side, const QString& system, bool generating) const;

private:
    std::vector<ChatExchange> history(int side, bool regenerate) const;

    std::shared_ptr<SharedModel> m_model;
    std::unique_ptr<ChatPromptBuilder> m_builder;
    std::vector<Turn> m_turns;
};

}  // namespace qls::ui
