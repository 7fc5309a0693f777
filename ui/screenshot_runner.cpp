#include "ui/screenshot_runner.h"

#include <QApplication>
#include <QDir>
#include <qcustomplot.h>

#include "ui/inspect_page.h"
#include "ui/main_window.h"
#include "ui/model_session.h"
#include "ui/tensor_detail_panel.h"

namespace qls::ui {

ScreenshotRunner::ScreenshotRunner(MainWindow* window, QString dir, int timeoutMs)
    : QObject(window), m_window(window), m_dir(std::move(dir)) {
    InspectPage* inspect = window->inspectPage();
    connect(window->session(), &ModelSession::loadFailed, this,
            [this](const QString& path, const QString& message) { fail(tr("could not open %1: %2").arg(path, message)); });
    connect(inspect, &InspectPage::tableFailed, this,
            [this](const QString& message) { fail(tr("the error table failed: %1").arg(message)); });
    connect(inspect->detail(), &TensorDetailPanel::tensorFailed, this,
            [this](const QString& message) { fail(tr("the tensor charts failed: %1").arg(message)); });
    connect(inspect, &InspectPage::tableComputed, this, &ScreenshotRunner::checkReady);
    connect(inspect->detail(), &TensorDetailPanel::tensorShown, this, &ScreenshotRunner::checkReady);
    m_timeout.setSingleShot(true);
    connect(&m_timeout, &QTimer::timeout, this, [this] { fail(tr("timed out waiting for the model and its table")); });
    m_timeout.start(timeoutMs);
}

void ScreenshotRunner::checkReady() {
    const InspectPage* inspect = m_window->inspectPage();
    if (m_done || !inspect->tableReady() || !inspect->detail()->hasResult()) return;
    // Let queued replots and layout requests settle before painting.
    QTimer::singleShot(200, this, &ScreenshotRunner::capture);
}

void ScreenshotRunner::capture() {
    if (m_done) return;
    if (!QDir().mkpath(m_dir)) return fail(tr("cannot create the folder %1").arg(m_dir));
    QStringList written;
    for (int p = 0; p < MainWindow::PageCount; ++p) {
        const auto page = MainWindow::Page(p);
        m_window->showPage(page);
        QApplication::processEvents();
        for (QCustomPlot* plot : m_window->findChildren<QCustomPlot*>()) plot->replot(QCustomPlot::rpImmediateRefresh);
        QApplication::processEvents();
        const QString path = QDir(m_dir).filePath(MainWindow::pageName(page) + ".png");
        if (!m_window->grab().save(path, "PNG")) return fail(tr("cannot write %1").arg(path));
        written << path;
    }
    m_done = true;
    m_timeout.stop();
    emit finished(true, tr("wrote %1").arg(written.join(", ")));
}

void ScreenshotRunner::fail(const QString& message) {
    if (m_done) return;
    m_done = true;
    m_timeout.stop();
    emit finished(false, message);
}

}  // namespace qls::ui
