#include "ui/playground_chat.h"

#include <QObject>

namespace qls::ui {

void PlaygroundChat::setModel(std::shared_ptr<SharedModel> model) {
    m_builder.reset();
    m_model = std::move(model);
}

void PlaygroundChat::setFormatting(ChatTemplateChoice choice) {
    m_builder.reset();
    if (!m_model) return;
    m_builder = std::make_unique<ChatPromptBuilder>(m_model->tokenizer(), m_model->model().config, choice);
}

std::vector<ChatExchange> PlaygroundChat::history(int side, bool regenerate) const {
    std::vector<ChatExchange> out;
    const std::size_t n = m_turns.size() - (regenerate && !m_turns.empty() ? 1 : 0);
    for (std::size_t i = 0; i < n; ++i) {
        const Turn& t = m_turns[i];
        ChatExchange e{t.user.toStdString(), std::nullopt};
        if (t.reply[side]) e.reply = t.reply[side]->toStdString();
        out.push_back(std::move(e));
    }
    return out;
}

std::array<ChatPrompt, 2> PlaygroundChat::prompts(const QString& system, const QString& message, bool regenerate,
                                                  std::int64_t maxNewTokens) const {
    std::array<ChatPrompt, 2> out;
    for (int side = 0; side < 2; ++side) {
        ChatRequest r;
        r.system = system.toStdString();
        r.history = history(side, regenerate);
        r.message = (regenerate && !m_turns.empty() ? m_turns.back().user : message).toStdString();
        r.max_new_tokens = maxNewTokens;
        r.context = m_model->model().config.max_position_embeddings;
        out[side] = m_builder->build(r);
    }
    return out;
}

void PlaygroundChat::begin(const QString& message, bool regenerate, const std::array<ChatPrompt, 2>& prompts,
                           const std::array<bool, 2>& running) {
    if (!regenerate || m_turns.empty()) m_turns.push_back(Turn{message, {}, {}});
    Turn& t = m_turns.back();
    for (int side = 0; side < 2; ++side) {
        t.reply[side] = running[side] ? std::optional<QString>(QString()) : std::nullopt;
        t.dropped[side] = running[side] ? prompts[side].dropped_exchanges : 0;
    }
}

void PlaygroundChat::appendReply(int side, const QString& text) {
    if (!m_turns.empty() && m_turns.back().reply[side]) *m_turns.back().reply[side] += text;
}

void PlaygroundChat::dropReply(int side) {
    if (!m_turns.empty()) m_turns.back().reply[side].reset();
}

QString PlaygroundChat::lastReply(int side) const {
    return m_turns.empty() ? QString() : m_turns.back().reply[side].value_or(QString());
}

QList<ChatTranscript::Block> PlaygroundChat::blocks(int side, const QString& system, bool generating) const {
    using Kind = ChatTranscript::Block::Kind;
    QList<ChatTranscript::Block> out;
    if (!system.isEmpty()) out.append({Kind::System, system});
    for (std::size_t i = 0; i < m_turns.size(); ++i) {
        const Turn& t = m_turns[i];
        const bool last = i + 1 == m_turns.size();
        if (t.dropped[side])
            out.append({Kind::Note, QObject::tr("The %n oldest exchange(s) were left out of the prompt for the reply below "
                                                "(the system prompt was kept), to fit the model's context of %1 tokens.",
                                                nullptr, int(t.dropped[side]))
                                        .arg(m_model->model().config.max_position_embeddings)});
        out.append({Kind::User, t.user});
        if (t.reply[side]) out.append({Kind::Reply, t.reply[side]->isEmpty() && last && generating ? QStringLiteral("…") : *t.reply[side]});
        else out.append({Kind::Note, QObject::tr("No reply on this side.")});
    }
    return out;
}

}  // namespace qls::ui
