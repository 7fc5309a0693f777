#include "ui/chat_template_view.h"

#include <QFontDatabase>
#include <QLabel>
#include <QPlainTextEdit>
#include <QTabWidget>
#include <QVBoxLayout>

namespace qls::ui {

ChatTemplateView::ChatTemplateView(QWidget* parent) : QWidget(parent) {
    m_tabs = new QTabWidget(this);
    m_tabs->setObjectName("chatTemplateTabs");
    m_title = new QLabel(this);
    m_source = addPage(tr("Chat template"), "chatTemplateSource", m_title);
    const QString names[2] = {tr("Next prompt: base model"), tr("Next prompt: base + adapter")};
    for (int side = 0; side < 2; ++side) {
        m_summaries[side] = new QLabel(this);
        m_prompts[side] = addPage(names[side], side == 0 ? "nextPromptBase" : "nextPromptAdapter", m_summaries[side]);
    }
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_tabs);
}

QPlainTextEdit* ChatTemplateView::addPage(const QString& title, const QString& name, QLabel* header) {
    auto* page = new QWidget(m_tabs);
    header->setWordWrap(true);
    auto* text = new QPlainTextEdit(page);
    text->setObjectName(name);
    text->setReadOnly(true);
    text->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    text->setLineWrapMode(QPlainTextEdit::WidgetWidth);
    auto* layout = new QVBoxLayout(page);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(header);
    layout->addWidget(text, 1);
    m_tabs->addTab(page, title);
    return text;
}

void ChatTemplateView::setSource(const QString& title, const QString& source) {
    m_title->setText(title);
    m_source->setPlainText(source);
}

void ChatTemplateView::setNextPrompt(int side, const QString& summary, const QString& text) {
    m_summaries[side]->setText(summary);
    m_prompts[side]->setPlainText(text);
}

QString ChatTemplateView::sourceText() const { return m_source->toPlainText(); }

QString ChatTemplateView::nextPromptText(int side) const { return m_prompts[side]->toPlainText(); }

}  // namespace qls::ui
