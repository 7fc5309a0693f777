// What the model sees, on request: the chat formatting's source (the model's Jinja template, a
// named template's rendering of an example chat, or what plain text does) and, for each side,
// the exact prompt text the next Send would tokenize, read-only and monospace, special tokens
// and all.
#pragma once
#include <QWidget>

class QLabel;
class QPlainTextEdit;
class QTabWidget;

namespace qls::ui {

class ChatTemplateView : public QWidget {
    Q_OBJECT
public:
    explicit ChatTemplateView(QWidget* parent = nullptr);

    void setSource(const QString& title, const QString& source);
    // `side` 0: base model, 1: base + adapter. `summary` heads the text (its token count, or why
    // there is no prompt).
    void setNextPrompt(int side, const QString& summary, const QString& text);

    QString sourceText() const;
    QString nextPromptText(int side) const;

private:
    // A tab with `header` above a read-only monospace text.
    QPlainTextEdit* addPage(const QString& title, const QString& name, QLabel* header);

    QTabWidget* m_tabs;
    QLabel* m_title;
    QLabel* m_summaries[2];
    QPlainTextEdit* m_source;
    QPlainTextEdit* m_prompts[2];
};

}  // namespace qls::ui
