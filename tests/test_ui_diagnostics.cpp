// Help > Diagnostics shows qlora doctor's report and copies it for a bug report.
#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QDir>
#include <QPushButton>
#include <QTest>

#include "tests/test_support.h"
#include "ui/diagnostics_dialog.h"
#include "ui/main_window.h"

using namespace qls::ui;

class TestUiDiagnostics : public QObject {
    Q_OBJECT
private slots:
    void reportIsShownAndCopied() {
        MainWindow window;
        QVERIFY(window.findChild<QAction*>(QStringLiteral("diagnosticsAction")) != nullptr);
        DiagnosticsDialog dialog(&window);
        const QString text = dialog.reportText();
        for (const char* line : {"QLoRA Studio", "\nos: ", "\ncpu: ", "\nmemory: ", "\nblas: ", "\ncuda: "})
            QVERIFY2(text.contains(QLatin1String(line)), qPrintable(text));
        QApplication::clipboard()->clear();
        auto* copy = dialog.findChild<QPushButton*>(QStringLiteral("diagnosticsCopy"));
        QVERIFY(copy);
        copy->click();
        QCOMPARE(QApplication::clipboard()->text(), text);
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        const QString dir = QString::fromStdString((std::filesystem::path(QLS_BINARY_DIR) / "screenshots").string());
        QDir().mkpath(dir);
        QVERIFY(dialog.grab().save(dir + "/diagnostics.png"));
    }
};

QTEST_MAIN(TestUiDiagnostics)
#include "test_ui_diagnostics.moc"
