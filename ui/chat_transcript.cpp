#include "ui/chat_transcript.h"

#include <QScrollBar>

namespace qls::ui {

namespace {

// Light tints with dark text read the same under a light or a dark palette.
struct Style {
    const char* background;
    const char* heading;
};

Style styleOf(ChatTranscript::Block::Kind kind) {
    switch (kind) {
        case ChatTranscript::Block::Kind::System: return {"#fff8e1", "#8d6e00"};
        case ChatTranscript::Block::Kind::User: return {"#e3f2fd", "#1565c0"};
        case ChatTranscript::Block::Kind::Reply: return {"#f1f3f4", "#2e7d32"};
        case ChatTranscript::Block::Kind::Note: break;
    }
    return {"", "#757575"};
}

QString blockHtml(const ChatTranscript::Block& b, const QString& heading) {
    const QString text = b.text.toHtmlEscaped();
    const Style s = styleOf(b.kind);
    if (b.kind == ChatTranscript::Block::Kind::Note)
        return QStringLiteral("<p style=\"color:%1; font-style:italic; margin:4px 8px;\">%2</p>").arg(s.heading, text);
    return QStringLiteral("<table width=\"100%\" cellpadding=\"6\" cellspacing=\"0\" style=\"margin-bottom:6px;\">"
                          "<tr><td style=\"background-color:%1; color:#202124;\">"
                          "<span style=\"color:%2; font-weight:bold;\">%3</span><br>"
                          "<span style=\"white-space:pre-wrap;\">%4</span></td></tr></table>")
        .arg(s.background, s.heading, heading.toHtmlEscaped(), text);
}

}  // namespace

ChatTranscript::ChatTranscript(const QString& replyName, QWidget* parent) : QTextBrowser(parent), m_replyName(replyName) {
    setOpenLinks(false);
}

void ChatTranscript::setBlocks(const QList<Block>& blocks) {
    m_blocks = blocks;
    QScrollBar* bar = verticalScrollBar();
    const bool atEnd = bar->value() >= bar->maximum() - 4;
    const int value = bar->value();
    QString html;
    for (const Block& b : blocks) {
        const QString heading = b.kind == Block::Kind::System ? tr("System")
                                : b.kind == Block::Kind::User ? tr("You")
                                                              : m_replyName;
        html += blockHtml(b, heading);
    }
    setHtml(html);
    if (atEnd) {
        // Placing the cursor at the end lays the document out, so the range is final.
        moveCursor(QTextCursor::End);
        ensureCursorVisible();
        bar->setValue(bar->maximum());
    } else {
        bar->setValue(value);
    }
}

QString ChatTranscript::conversationText() const {
    QStringList parts;
    for (const Block& b : m_blocks) {
        switch (b.kind) {
            case Block::Kind::System: parts << QStringLiteral("System:\n") + b.text; break;
            case Block::Kind::User: parts << QStringLiteral("User:\n") + b.text; break;
            case Block::Kind::Reply: parts << QStringLiteral("Assistant:\n") + b.text; break;
            case Block::Kind::Note: break;
        }
    }
    return parts.join(QStringLiteral("\n\n"));
}

}  // namespace qls::ui
