// What the studio keeps across restarts (QSettings): the window's geometry, the page shown, the
// position of every splitter, the last hyperparameters and the theme. The recent models,
// datasets and runs are kept as they change (recent_files.h, ModelSession).
#include <QSplitter>
#include <QSettings>
#include <QStackedWidget>

#include <nlohmann/json.hpp>

#include "ui/hparams_page.h"
#include "ui/main_window.h"
#include "ui/theme.h"

namespace qls::ui {

namespace {

const QString kGeometry = QStringLiteral("window/geometry");
const QString kPage = QStringLiteral("window/page");
const QString kHparams = QStringLiteral("hyperparameters");

// A page's splitters in creation order: the key stays the same from run to run.
QString splitterKey(MainWindow::Page page, int index) {
    return QStringLiteral("window/splitters/%1/%2").arg(MainWindow::pageName(page)).arg(index);
}

}  // namespace

void MainWindow::restoreSettings() {
    applyTheme(savedTheme());
    QSettings s;
    if (!restoreGeometry(s.value(kGeometry).toByteArray())) resize(1440, 900);
    for (int p = 0; p < PageCount; ++p) {
        const QList<QSplitter*> splitters = m_pages->widget(p)->findChildren<QSplitter*>();
        for (int i = 0; i < splitters.size(); ++i)
            splitters[i]->restoreState(s.value(splitterKey(Page(p), i)).toByteArray());
    }
    const int page = s.value(kPage, int(ModelPageIndex)).toInt();
    if (page >= 0 && page < PageCount) showPage(Page(page));
    const QString hparams = s.value(kHparams).toString();
    if (hparams.isEmpty()) return;
    // Settings from another version, or edited by hand, fall back to the defaults rather than
    // keep the studio from starting.
    try {
        m_hparamsPage->setConfig(train_config_from_json(nlohmann::json::parse(hparams.toStdString())),
                                 tr("Your last settings"));
    } catch (const std::exception&) {
        s.remove(kHparams);
    }
}

void MainWindow::saveSettings() const {
    QSettings s;
    s.setValue(kGeometry, saveGeometry());
    s.setValue(kPage, int(currentPage()));
    for (int p = 0; p < PageCount; ++p) {
        const QList<QSplitter*> splitters = m_pages->widget(p)->findChildren<QSplitter*>();
        for (int i = 0; i < splitters.size(); ++i) s.setValue(splitterKey(Page(p), i), splitters[i]->saveState());
    }
    s.setValue(kHparams, QString::fromStdString(to_json(m_hparamsPage->config()).dump()));
}

}  // namespace qls::ui
