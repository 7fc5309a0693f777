// Every page usable at a laptop's 1024×700 as well as on a 1920×1080 desktop, offscreen, with
// the demo model and data open: the window's layout fits the size (Qt enlarges a window whose
// layout asks for more, pushing its edges off a small screen), and no control is cut off or
// squeezed below the size it needs unless a scroll area holds it. Each page is also saved
// as build/screenshots/<size>/<page>.png for a person to look at.
#include <QAbstractButton>
#include <QAbstractSpinBox>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QLineEdit>
#include <QScrollArea>
#include <QSettings>
#include <QStackedWidget>
#include <QTest>

#include "tests/test_support.h"
#include "tests/ui_test_support.h"
#include "ui/data_page.h"
#include "ui/inspect_page.h"
#include "ui/main_window.h"
#include "ui/model_session.h"

using namespace qls;
using namespace qls::ui;

namespace {

constexpr int kTimeoutMs = 60000;

// Inside a scroll area a control may lie outside the view: the user scrolls to it.
bool scrolls(const QWidget* w, const QWidget* page) {
    for (const QWidget* p = w->parentWidget(); p && p != page->parentWidget(); p = p->parentWidget())
        if (qobject_cast<const QAbstractScrollArea*>(p)) return true;
    return false;
}

// What a control the user must reach looks like when the page is too small for it: cut off at
// the page's edge, or narrower than its own minimum (text clipped).
QStringList cutOff(QWidget* page) {
    QStringList problems;
    const QRect area = page->rect();
    for (QWidget* w : page->findChildren<QWidget*>()) {
        const bool control = qobject_cast<QAbstractButton*>(w) || qobject_cast<QAbstractSpinBox*>(w) ||
                             qobject_cast<QComboBox*>(w) || qobject_cast<QLineEdit*>(w);
        // A control inside a spin box or combo box is its part, laid out by it.
        if (!control || !w->isVisible() || qobject_cast<QAbstractSpinBox*>(w->parentWidget()) ||
            qobject_cast<QComboBox*>(w->parentWidget()) || scrolls(w, page))
            continue;
        const QRect r(w->mapTo(page, QPoint(0, 0)), w->size());
        const QString name = w->objectName().isEmpty() ? QString::fromLatin1(w->metaObject()->className()) : w->objectName();
        const QString label = qobject_cast<QAbstractButton*>(w) ? static_cast<QAbstractButton*>(w)->text() : QString();
        if (!area.contains(r))
            problems << QStringLiteral("%1 '%2' at %3,%4 %5×%6 leaves the page")
                            .arg(name, label)
                            .arg(r.x())
                            .arg(r.y())
                            .arg(r.width())
                            .arg(r.height());
        else if (w->width() < w->minimumSizeHint().width() - 1)
            problems << QStringLiteral("%1 '%2' is %3 px wide, needs %4").arg(name, label).arg(w->width()).arg(w->minimumSizeHint().width());
    }
    return problems;
}

}  // namespace

class TestUiLayout : public QObject {
    Q_OBJECT
private:
    test::ScratchDir m_settingsDir;

private slots:
    void initTestCase() {
        test::isolate_settings(m_settingsDir, "test_ui_layout");
    }

    void everyPageFits_data() {
        QTest::addColumn<QSize>("size");
        QTest::newRow("1024x700") << QSize(1024, 700);
        QTest::newRow("1920x1080") << QSize(1920, 1080);
    }

    void everyPageFits() {
        QFETCH(QSize, size);
        MainWindow w;
        w.show();
        w.setUpDemo();
        QTRY_VERIFY_WITH_TIMEOUT(w.session()->hasModel() && w.dataPage()->isPrepared() && w.inspectPage()->tableReady(),
                                 kTimeoutMs);
        const QSize needed = w.minimumSizeHint();
        QString pages;  // which page asks for too much, when the window does
        auto* stack = w.findChild<QStackedWidget*>();
        for (int p = 0; p < MainWindow::PageCount; ++p) {
            const QSize m = stack->widget(p)->minimumSizeHint();
            pages += QStringLiteral(" %1 %2×%3").arg(MainWindow::pageName(MainWindow::Page(p))).arg(m.width()).arg(m.height());
        }
        QVERIFY2(needed.width() <= 1024 && needed.height() <= 700,
                 qPrintable(QStringLiteral("the window needs %1×%2; pages:%3").arg(needed.width()).arg(needed.height()).arg(pages)));
        w.resize(size);
        QTRY_COMPARE(w.size(), size);

        const QString dir = QStringLiteral(QLS_BINARY_DIR "/screenshots/%1x%2").arg(size.width()).arg(size.height());
        QVERIFY(QDir().mkpath(dir));
        QStringList problems;
        for (int p = 0; p < MainWindow::PageCount; ++p) {
            const auto page = MainWindow::Page(p);
            w.showPage(page);
            QApplication::processEvents();
            for (const QString& problem : cutOff(stack->currentWidget()))
                problems << QStringLiteral("%1: %2").arg(MainWindow::pageName(page), problem);
            QVERIFY(w.grab().save(QDir(dir).filePath(MainWindow::pageName(page) + ".png"), "PNG"));
        }
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
    }
};

QTEST_MAIN(TestUiLayout)
#include "test_ui_layout.moc"
