#include "ui/diagnostics_dialog.h"

#include <QApplication>
#include <QClipboard>
#include <QDialogButtonBox>
#include <QFontDatabase>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QVBoxLayout>

#include "core/diagnostics/system_report.h"

namespace qls::ui {

DiagnosticsDialog::DiagnosticsDialog(QWidget* parent) : QDialog(parent), m_text(new QPlainTextEdit(this)) {
    setWindowTitle(tr("Diagnostics"));
    setObjectName(QStringLiteral("diagnosticsDialog"));
    const std::string program = "QLoRA Studio " + QApplication::applicationVersion().toStdString() + ", Qt " + qVersion();
    m_text->setPlainText(QString::fromStdString(format_system_report(system_report(program))));
    m_text->setReadOnly(true);
    m_text->setObjectName(QStringLiteral("diagnosticsText"));
    m_text->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_text->setLineWrapMode(QPlainTextEdit::NoWrap);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    QPushButton* copy = buttons->addButton(tr("&Copy"), QDialogButtonBox::ActionRole);
    copy->setObjectName(QStringLiteral("diagnosticsCopy"));
    connect(copy, &QPushButton::clicked, this, [this] { QApplication::clipboard()->setText(reportText()); });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_text);
    layout->addWidget(buttons);
    resize(760, 360);
}

QString DiagnosticsDialog::reportText() const { return m_text->toPlainText(); }

}  // namespace qls::ui
