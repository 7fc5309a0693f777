// Help > Diagnostics: qlora doctor's report (core/diagnostics/system_report.h) in a window,
// with Copy, so a user can paste the program's build, the host and every GPU into a bug report.
#pragma once
#include <QDialog>

class QPlainTextEdit;

namespace qls::ui {

class DiagnosticsDialog : public QDialog {
    Q_OBJECT
public:
    explicit DiagnosticsDialog(QWidget* parent = nullptr);
    QString reportText() const;

private:
    QPlainTextEdit* m_text;
};

}  // namespace qls::ui
