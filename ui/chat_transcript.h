// One side's conversation in the playground as a readable transcript: the system prompt, then
// each user message and reply in its own tinted block, and notes (exchanges left out of the
// prompt, a reply that did not come). Rebuilt from blocks on every change; the view stays at
// the end while it was there, so a streamed reply scrolls into view unless the user scrolled up.
#pragma once
#include <QList>
#include <QString>
#include <QTextBrowser>

namespace qls::ui {

class ChatTranscript : public QTextBrowser {
    Q_OBJECT
public:
    struct Block {
        enum class Kind { System, User, Reply, Note };
        Kind kind = Kind::User;
        QString text;
    };

    // `replyName` heads the replies ("Base model", "Base + adapter").
    ChatTranscript(const QString& replyName, QWidget* parent = nullptr);

    void setBlocks(const QList<Block>& blocks);
    const QList<Block>& blocks() const { return m_blocks; }
    // The conversation as plain text for the clipboard: "System:", "User:" and "Assistant:"
    // paragraphs; notes are left out (they describe the studio's prompt, not the chat).
    QString conversationText() const;

private:
    QString m_replyName;
    QList<Block> m_blocks;
};

}  // namespace qls::ui
