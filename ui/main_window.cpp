#include "ui/main_window.h"

#include <QAction>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QProgressBar>
#include <QSettings>
#include <QStackedWidget>
#include <QStatusBar>
#include <QStyle>
#include <QTimer>

#include "ui/inspect_page.h"
#include "ui/model_page.h"
#include "ui/model_session.h"
#include "ui/tensor_detail_panel.h"
#include "ui/ui_format.h"

namespace qls::ui {

namespace {
constexpr int kDevicePollMs = 2000;
}

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent), m_session(new ModelSession(this)) {
    setWindowTitle(tr("QLoRA Studio"));
    m_modelPage = new ModelPage(m_session, this);
    m_inspectPage = new InspectPage(m_session, this);

    m_sidebar = new QListWidget(this);
    m_sidebar->setObjectName("sidebar");
    m_sidebar->setViewMode(QListView::ListMode);
    m_sidebar->setIconSize(QSize(24, 24));
    m_sidebar->setSpacing(2);
    auto* modelItem = new QListWidgetItem(style()->standardIcon(QStyle::SP_DriveHDIcon), tr("Model"), m_sidebar);
    auto* inspectItem = new QListWidgetItem(style()->standardIcon(QStyle::SP_FileDialogContentsView), tr("Inspect"), m_sidebar);
    modelItem->setToolTip(tr("Open a base model, see its size and whether it fits"));
    inspectItem->setToolTip(tr("How much 4-bit quantization changes each weight"));
    m_sidebar->setFixedWidth(m_sidebar->sizeHintForColumn(0) + 36);

    m_pages = new QStackedWidget(this);
    m_pages->addWidget(m_modelPage);
    m_pages->addWidget(m_inspectPage);
    connect(m_sidebar, &QListWidget::currentRowChanged, m_pages, &QStackedWidget::setCurrentIndex);
    m_sidebar->setCurrentRow(ModelPageIndex);

    auto* central = new QWidget(this);
    auto* layout = new QHBoxLayout(central);
    layout->setContentsMargins(4, 4, 4, 0);
    layout->addWidget(m_sidebar);
    layout->addWidget(m_pages, 1);
    setCentralWidget(central);

    buildMenus();
    buildStatusBar();
    connect(m_modelPage, &ModelPage::openRequested, this, &MainWindow::chooseModelFolder);
    connect(m_modelPage, &ModelPage::openGgufRequested, this, &MainWindow::chooseGgufFile);
    connect(m_modelPage, &ModelPage::demoRequested, this, &MainWindow::openDemoModel);
    connect(m_session, &ModelSession::recentModelsChanged, this, &MainWindow::rebuildRecentMenu);
    connect(m_session, &ModelSession::modelLoaded, this, [this] {
        setWindowTitle(tr("%1 — QLoRA Studio").arg(m_session->displayName()));
    });
    connect(m_session, &ModelSession::loadFailed, this, [this](const QString&, const QString&) {
        showPage(ModelPageIndex);  // where the error is shown
        statusBar()->showMessage(tr("Could not open the model"), 5000);
    });
    watchTask(m_session->loader());
    watchTask(m_inspectPage->tableTask());
    watchTask(m_inspectPage->detail()->task());
    resize(1440, 900);
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(style()->standardIcon(QStyle::SP_DirOpenIcon), tr("Open model &folder…"), QKeySequence::Open,
                    this, &MainWindow::chooseModelFolder);
    file->addAction(tr("Open &GGUF…"), this, &MainWindow::chooseGgufFile);
    file->addAction(tr("Open &demo model"), this, &MainWindow::openDemoModel);
    m_recentMenu = file->addMenu(tr("&Recent models"));
    rebuildRecentMenu();
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
}

void MainWindow::buildStatusBar() {
    m_backendLabel = new QLabel(tr("Backend: CPU"), this);
    m_backendLabel->setObjectName("backendLabel");
    m_vramLabel = new QLabel(this);
    m_vramLabel->setObjectName("vramLabel");
    m_vramLabel->hide();
    m_operationLabel = new QLabel(tr("Ready"), this);
    m_operationLabel->setObjectName("operationLabel");
    m_operationProgress = new QProgressBar(this);
    m_operationProgress->setMaximumWidth(160);
    m_operationProgress->setTextVisible(false);
    m_operationProgress->hide();
    statusBar()->addWidget(m_operationLabel, 1);
    statusBar()->addWidget(m_operationProgress);
    statusBar()->addPermanentWidget(m_vramLabel);
    statusBar()->addPermanentWidget(m_backendLabel);

    // The first CUDA query starts the driver, which can take a while: never on the UI thread.
    connect(&m_deviceQuery, &BackgroundTask::finished, this, [this] {
        if (m_pollDevice) QTimer::singleShot(kDevicePollMs, this, &MainWindow::refreshDevice);
    });
    refreshDevice();
}

void MainWindow::refreshDevice() {
    m_deviceQuery.start(tr("Querying the GPU"), [this](const ProgressFn&) -> BackgroundTask::Delivery {
        const DeviceStatus status = queryDeviceStatus();
        return [this, status] { showDevice(status); };
    });
}

void MainWindow::showDevice(const DeviceStatus& status) {
    if (!m_deviceReported) m_modelPage->setDeviceStatus(status);
    m_deviceReported = true;
    m_pollDevice = status.cuda;
    m_backendLabel->setText(status.cuda ? tr("Backend: CUDA — %1").arg(status.name) : tr("Backend: CPU"));
    m_vramLabel->setVisible(status.cuda);
    if (status.cuda)
        m_vramLabel->setText(tr("VRAM %1 / %2").arg(formatBytes(double(status.totalBytes - status.freeBytes)),
                                                     formatBytes(double(status.totalBytes))));
}

void MainWindow::watchTask(BackgroundTask* task) {
    m_watched << task;
    connect(task, &BackgroundTask::started, this, &MainWindow::refreshOperation);
    connect(task, &BackgroundTask::finished, this, &MainWindow::refreshOperation);
    connect(task, &BackgroundTask::cancelled, this, &MainWindow::refreshOperation);
    connect(task, &BackgroundTask::failed, this, &MainWindow::refreshOperation);
    connect(task, &BackgroundTask::progressed, this, [this, task](qint64 done, qint64 total) {
        if (m_operationLabel->property("task").value<void*>() != task) return;
        m_operationProgress->setRange(0, int(total));
        m_operationProgress->setValue(int(done));
        m_operationLabel->setText(tr("%1… %2 / %3").arg(task->operation()).arg(done).arg(total));
    });
}

// The status line names the most recently started operation still running.
void MainWindow::refreshOperation() {
    for (auto it = m_watched.crbegin(); it != m_watched.crend(); ++it) {
        BackgroundTask* task = *it;
        if (!task->isRunning()) continue;
        m_operationLabel->setProperty("task", QVariant::fromValue<void*>(task));
        m_operationLabel->setText(tr("%1…").arg(task->operation()));
        m_operationProgress->setRange(0, 0);
        m_operationProgress->show();
        return;
    }
    m_operationLabel->setProperty("task", QVariant());
    m_operationLabel->setText(tr("Ready"));
    m_operationProgress->hide();
}

void MainWindow::showPage(Page page) { m_sidebar->setCurrentRow(page); }

MainWindow::Page MainWindow::currentPage() const { return Page(m_pages->currentIndex()); }

QString MainWindow::pageName(Page page) {
    return page == ModelPageIndex ? QStringLiteral("model") : QStringLiteral("inspect");
}

void MainWindow::openModel(const QString& path) { m_session->open(path); }

void MainWindow::openDemoModel() { m_session->openDemo(); }

void MainWindow::chooseModelFolder() {
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Open a Hugging Face or bitsandbytes model folder"), QSettings().value("lastOpenDir").toString());
    if (dir.isEmpty()) return;
    QSettings().setValue("lastOpenDir", dir);
    openModel(dir);
}

void MainWindow::chooseGgufFile() {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open a GGUF model"),
                                                      QSettings().value("lastOpenDir").toString(),
                                                      tr("GGUF models (*.gguf);;All files (*)"));
    if (path.isEmpty()) return;
    QSettings().setValue("lastOpenDir", QFileInfo(path).absolutePath());
    openModel(path);
}

void MainWindow::rebuildRecentMenu() {
    m_recentMenu->clear();
    const QStringList recent = ModelSession::recentModels();
    for (const QString& path : recent)
        m_recentMenu->addAction(path, this, [this, path] { openModel(path); });
    if (recent.isEmpty()) {
        m_recentMenu->addAction(tr("(none yet)"))->setEnabled(false);
        return;
    }
    m_recentMenu->addSeparator();
    m_recentMenu->addAction(tr("Clear the list"), m_session, &ModelSession::clearRecentModels);
}

}  // namespace qls::ui
