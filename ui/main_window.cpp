#include "ui/main_window.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QUrl>
#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QCloseEvent>
#include <QListWidget>
#include <QInputDialog>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QStackedWidget>
#include <QStandardPaths>
#include <QStatusBar>
#include <QStyle>
#include <QTimer>
#include <QVBoxLayout>

#include "core/backend/backend_registry.h"
#include "core/train/run_plan.h"
#include "core/util/resource_paths.h"
#include "ui/data_page.h"
#include "ui/diagnostics_dialog.h"
#include "ui/export_page.h"
#include "ui/hparams_page.h"
#include "ui/inspect_page.h"
#include "ui/model_page.h"
#include "ui/model_session.h"
#include "ui/playground_page.h"
#include "ui/recent_files.h"
#include "ui/theme.h"
#include "ui/tensor_detail_panel.h"
#include "ui/train_page.h"
#include "ui/training_controller.h"
#include "ui/ui_format.h"

namespace qls::ui {

namespace {
constexpr int kDevicePollMs = 2000;
const QString kRecentDatasets = QStringLiteral("recentDatasets");
const QString kRecentRuns = QStringLiteral("recentRuns");
}  // namespace

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent), m_session(new ModelSession(this)), m_controller(new TrainingController(this)) {
    setWindowTitle(tr("QLoRA Studio"));
    m_modelPage = new ModelPage(m_session, this);
    m_dataPage = new DataPage(m_session, this);
    m_hparamsPage = new HparamsPage(m_session, this);
    m_trainPage = new TrainPage(m_controller, this);
    m_inspectPage = new InspectPage(m_session, this);
    m_playgroundPage = new PlaygroundPage(m_session, this);
    m_exportPage = new ExportPage(m_session, this);
    m_pages = new QStackedWidget(this);
    for (QWidget* page : std::initializer_list<QWidget*>{m_modelPage, m_dataPage, m_hparamsPage, m_trainPage,
                                                         m_inspectPage, m_playgroundPage, m_exportPage})
        m_pages->addWidget(page);

    auto* central = new QWidget(this);
    auto* layout = new QHBoxLayout(central);
    layout->setContentsMargins(4, 4, 4, 0);
    layout->addWidget(buildSidebar());
    layout->addWidget(m_pages, 1);
    setCentralWidget(central);

    buildMenus();
    buildStatusBar();
    connect(m_modelPage, &ModelPage::openRequested, this, &MainWindow::chooseModelFolder);
    connect(m_modelPage, &ModelPage::openGgufRequested, this, &MainWindow::chooseGgufFile);
    connect(m_modelPage, &ModelPage::openHubRequested, this, &MainWindow::chooseHubModel);
    connect(m_modelPage, &ModelPage::demoRequested, this, &MainWindow::openDemoModel);
    connect(m_session, &ModelSession::recentModelsChanged, this, &MainWindow::rebuildRecentMenu);
    for (auto opened : {&ModelSession::modelLoaded, &ModelSession::configOpened})
        connect(m_session, opened, this, [this] { setWindowTitle(tr("%1 — QLoRA Studio").arg(m_session->displayName())); });
    connect(m_session, &ModelSession::loadFailed, this, [this](const QString&, const QString&) {
        showPage(ModelPageIndex);  // where the error is shown
        statusBar()->showMessage(tr("Could not open the model"), 5000);
    });
    connect(m_dataPage, &DataPage::datasetOpened, this, [](const QString& path) { addRecentFile(kRecentDatasets, path); });
    connect(m_hparamsPage, &HparamsPage::maxSeqLenChanged, m_dataPage, &DataPage::setMaxSeqLen);
    m_dataPage->setMaxSeqLen(int(m_hparamsPage->config().data.max_seq_len));
    connect(m_trainPage, &TrainPage::startRequested, this, &MainWindow::startTraining);
    connect(m_trainPage, &TrainPage::runOpened, this, [this](const QString& dir) {
        addRecentFile(kRecentRuns, dir);
        useRun(dir);
    });
    connect(m_controller, &TrainingController::finished, this, [this] {
        useRun(m_controller->runDir());
        if (m_quitting) close();
    });
    connect(m_controller, &TrainingController::started, this, [this](const QString& dir) {
        addRecentFile(kRecentRuns, dir);
        showPage(TrainPageIndex);
    });
    connect(m_controller, &TrainingController::memorySampled, this, &MainWindow::showTrainingMemory);
    connect(m_controller, &TrainingController::deviceChosen, this, [this](const RunDevice& d) {
        m_backendLabel->setText(tr("%1, %2").arg(QString::fromStdString(d.device), QString::fromStdString(d.compute_dtype)));
        m_backendLabel->setToolTip(tr("The run's device: %1").arg(QString::fromStdString(d.reason)));
    });
    connect(m_controller, &TrainingController::stateChanged, this, &MainWindow::showTrainingState);
    connect(m_controller, &TrainingController::stepFinished, this, [this](const StepMetrics& s) {
        m_trainLabel->setText(tr("Training: step %1 / %2, loss %3").arg(s.step).arg(s.total_steps).arg(s.loss, 0, 'f', 3));
    });
    watchTask(m_session->loader());
    watchTask(m_dataPage->task());
    watchTask(m_inspectPage->tableTask());
    watchTask(m_inspectPage->detail()->task());
    watchTask(m_exportPage->task());
    restoreSettings();
}

void MainWindow::saveAndQuit() {
    if (!m_controller->isActive()) {
        m_quitting = false;
        close();
        return;
    }
    m_quitting = true;  // TrainingController::finished closes the window
    statusBar()->showMessage(tr("Saving a checkpoint before quitting…"));
    m_controller->stop();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (!m_controller->isActive()) {
        saveSettings();
        event->accept();
        return;
    }
    event->ignore();
    if (m_quitting) return;  // already saving on the way out
    const QString question =
        tr("A run is training in %1. Save a checkpoint and quit (the Train page resumes it later), or keep "
           "training?")
            .arg(m_controller->runDir());
    const bool save = m_askClose ? m_askClose(question)
                                 : QMessageBox::question(this, tr("Quit while training?"), question,
                                                         QMessageBox::Save | QMessageBox::Cancel,
                                                         QMessageBox::Cancel) == QMessageBox::Save;
    if (save) saveAndQuit();
}

QWidget* MainWindow::buildSidebar() {
    m_sidebar = new QListWidget(this);
    m_sidebar->setObjectName("sidebar");
    m_sidebar->setViewMode(QListView::ListMode);
    m_sidebar->setIconSize(QSize(24, 24));
    m_sidebar->setSpacing(2);
    const struct {
        QStyle::StandardPixmap icon;
        QString name, tip;
    } items[] = {
        {QStyle::SP_DirIcon, tr("Model"), tr("Open a base model, see its size and whether it fits")},
        {QStyle::SP_FileDialogDetailedView, tr("Data"), tr("Open the training data and see what the model will learn")},
        {QStyle::SP_FileDialogListView, tr("Hyperparameters"), tr("LoRA, optimizer and batch settings, with presets")},
        {QStyle::SP_MediaPlay, tr("Train"), tr("Run training and watch its loss, memory and paging")},
        {QStyle::SP_FileDialogContentsView, tr("Inspect"), tr("How much 4-bit quantization changes each weight")},
        {QStyle::SP_MessageBoxQuestion, tr("Playground"), tr("Generate with the base model and with the adapter")},
        {QStyle::SP_DialogSaveButton, tr("Export"), tr("Write the adapter for PEFT, llama.cpp or Ollama")},
    };
    for (const auto& item : items)
        (new QListWidgetItem(style()->standardIcon(item.icon), item.name, m_sidebar))->setToolTip(item.tip);
    connect(m_sidebar, &QListWidget::currentRowChanged, m_pages, &QStackedWidget::setCurrentIndex);
    m_sidebar->setCurrentRow(ModelPageIndex);

    auto* demo = new QPushButton(style()->standardIcon(QStyle::SP_MediaPlay), tr("Demo run"), this);
    demo->setObjectName("demoButton");
    demo->setToolTip(tr("Open the demo model and data and train a short run (%1)")
                         .arg(QKeySequence(Qt::CTRL | Qt::Key_D).toString(QKeySequence::NativeText)));
    connect(demo, &QPushButton::clicked, this, &MainWindow::startDemoRun);
    auto* box = new QWidget(this);
    auto* v = new QVBoxLayout(box);
    v->setContentsMargins(0, 0, 0, 0);
    v->addWidget(m_sidebar, 1);
    v->addWidget(demo);
    const int width = std::max(m_sidebar->sizeHintForColumn(0) + 36, demo->sizeHint().width());
    m_sidebar->setFixedWidth(width);
    demo->setFixedWidth(width);
    return box;
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(style()->standardIcon(QStyle::SP_DirOpenIcon), tr("Open model &folder…"), QKeySequence::Open,
                    this, &MainWindow::chooseModelFolder);
    file->addAction(tr("Open &GGUF…"), this, &MainWindow::chooseGgufFile);
    file->addAction(tr("Open from &Hugging Face…"), this, &MainWindow::chooseHubModel);
    file->addAction(tr("Open &demo model"), this, &MainWindow::openDemoModel);
    m_recentMenu = file->addMenu(tr("&Recent models"));
    rebuildRecentMenu();
    QMenu* datasets = file->addMenu(tr("Recent data&sets"));
    connect(datasets, &QMenu::aboutToShow, this, [this, datasets] {
        fillRecentMenu(datasets, kRecentDatasets, [this](const QString& p) {
            m_dataPage->openDataset(p);
            showPage(DataPageIndex);
        });
    });
    QMenu* runs = file->addMenu(tr("Recent r&uns"));
    connect(runs, &QMenu::aboutToShow, this, [this, runs] {
        fillRecentMenu(runs, kRecentRuns, [this](const QString& p) {
            if (m_trainPage->openRun(p)) showPage(TrainPageIndex);
        });
    });
    file->addSeparator();
    file->addAction(style()->standardIcon(QStyle::SP_MediaPlay), tr("Demo &run"), QKeySequence(Qt::CTRL | Qt::Key_D),
                    this, &MainWindow::startDemoRun);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

    // The run's controls with their keys: in a menu of the window they work on every page.
    QMenu* training = menuBar()->addMenu(tr("&Training"));
    training->addActions(m_trainPage->runActions());

    QMenu* view = menuBar()->addMenu(tr("&View"));
    QMenu* theme = view->addMenu(tr("&Theme"));
    auto* themes = new QActionGroup(this);
    for (const auto& [t, name] : {std::pair{Theme::System, tr("Follow the &system")}, std::pair{Theme::Light, tr("&Light")},
                                  std::pair{Theme::Dark, tr("&Dark")}}) {
        QAction* a = theme->addAction(name, this, [t] { applyTheme(t); });
        a->setCheckable(true);
        a->setChecked(savedTheme() == t);
        a->setObjectName(QStringLiteral("theme-%1").arg(themeName(t)));
        themes->addAction(a);
    }

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* diagnostics = help->addAction(tr("&Diagnostics…"), this, [this] { DiagnosticsDialog(this).exec(); });
    diagnostics->setObjectName(QStringLiteral("diagnosticsAction"));
    help->addAction(tr("&About QLoRA Studio"), this, &MainWindow::showAbout);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

// Versions a bug report needs, what trains here, and where the README is.
void MainWindow::showAbout() {
    const AutoDevice device = auto_device();
    QString readme;
    for (const std::filesystem::path& p : {resources_dir().parent_path() / "README.md",
                                           std::filesystem::path("/usr/share/doc/qlora-studio/README.md")})
        if (std::filesystem::exists(p)) {
            readme = QString::fromStdString(p.string());
            break;
        }
    const QString text =
        tr("<h3>QLoRA Studio %1</h3><p>Finetune a language model with QLoRA on one desktop GPU, watch it "
           "learn, inspect 4-bit quantization and export the adapter.</p>"
           "<p>Qt %2 (built with %3)<br>Training here: %4 — %5<br>The command line: <code>qlora --help</code>; for a bug report, Help > Diagnostics or <code>qlora doctor</code></p>%6")
            .arg(QApplication::applicationVersion(), qVersion(), QT_VERSION_STR,
                 QString::fromStdString(device.device).toHtmlEscaped(), QString::fromStdString(device.reason).toHtmlEscaped(),
                 readme.isEmpty() ? QString()
                                  : tr("<p>Documentation: <a href=\"%1\">README</a> (%2)</p>")
                                        .arg(QUrl::fromLocalFile(readme).toString(), readme.toHtmlEscaped()));
    QMessageBox::about(this, tr("About QLoRA Studio"), text);
}

void MainWindow::buildStatusBar() {
    // Where a run trains: what auto would choose until a run says what it got.
    const AutoDevice device = auto_device();
    m_backendLabel = new QLabel(QString::fromStdString(device.device), this);
    m_backendLabel->setToolTip(tr("Device auto: %1").arg(QString::fromStdString(device.reason)));
    m_backendLabel->setObjectName("backendLabel");
    m_vramLabel = new QLabel(this);
    m_vramLabel->setObjectName("vramLabel");
    m_vramLabel->hide();
    m_trainLabel = new QLabel(tr("No run"), this);
    m_trainLabel->setObjectName("trainStateLabel");
    m_operationLabel = new QLabel(tr("Ready"), this);
    m_operationLabel->setObjectName("operationLabel");
    m_operationProgress = new QProgressBar(this);
    m_operationProgress->setMaximumWidth(160);
    m_operationProgress->setTextVisible(false);
    m_operationProgress->hide();
    statusBar()->addWidget(m_operationLabel, 1);
    statusBar()->addWidget(m_operationProgress);
    statusBar()->addPermanentWidget(m_trainLabel);
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
    if (status.cuda && !m_controller->isActive()) {
        m_vramLabel->setText(tr("VRAM %1 / %2").arg(formatBytes(double(status.totalBytes - status.freeBytes)),
                                                     formatBytes(double(status.totalBytes))));
        m_vramLabel->show();
    }
}

// While a run trains, the trainer's own accounting: what it holds against its limit.
void MainWindow::showTrainingMemory(const MemorySample& sample) {
    const QString used = formatBytes(double(sample.memory.device_current));
    m_vramLabel->setText(sample.device_limit > 0
                             ? tr("memory %1 / %2").arg(used, formatBytes(double(sample.device_limit)))
                             : tr("memory %1 (peak %2)").arg(used, formatBytes(double(sample.memory.device_peak))));
    m_vramLabel->show();
}

void MainWindow::showTrainingState(TrainerState state, const QString& message) {
    if (state == TrainerState::Training && !message.isEmpty()) return;  // the step counter says more
    m_trainLabel->setText(tr("Training: %1").arg(stateText(state)));
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
    switch (page) {
    case ModelPageIndex: return QStringLiteral("model");
    case DataPageIndex: return QStringLiteral("data");
    case HparamsPageIndex: return QStringLiteral("hyperparameters");
    case TrainPageIndex: return QStringLiteral("train");
    case InspectPageIndex: return QStringLiteral("inspect");
    case PlaygroundPageIndex: return QStringLiteral("playground");
    case ExportPageIndex: return QStringLiteral("export");
    case PageCount: break;
    }
    return {};
}

void MainWindow::useRun(const QString& runDir) {
    if (runDir.isEmpty()) return;
    m_playgroundPage->setAdapterSource(PlaygroundPage::AdapterMode::RunLatestCheckpoint, runDir);
    m_exportPage->setRunFolder(runDir);
}

void MainWindow::openModel(const QString& path) { m_session->open(path); }

void MainWindow::openDemoModel() { m_session->openDemo(); }

TrainConfig MainWindow::demoConfig() {
    TrainConfig c;
    c.max_steps = 60;
    c.micro_batch = 8;
    c.grad_accum = 1;
    c.optim.adamw.lr = 1e-3;
    c.lora.rank = 8;
    c.lora.alpha = 16;
    c.data.max_seq_len = 128;
    c.eval_every = 20;
    c.save_every = 30;
    return c;
}

void MainWindow::setUpDemo() {
    openDemoModel();
    m_hparamsPage->setConfig(demoConfig(), tr("Demo run"));
    m_dataPage->openDemoDataset();
    statusBar()->showMessage(tr("The demo model, data and settings are open (Hyperparameters: Undo brings your "
                                "settings back)"),
                             8000);
}

void MainWindow::startDemoRun() {
    setUpDemo();
    startTrainingWith(QString::fromStdString(demo_model_dir().string()));
}

TrainConfig MainWindow::composeConfig(const QString& model) const {
    TrainConfig c = m_hparamsPage->config();
    DatasetOptions data = m_dataPage->options();
    data.max_seq_len = c.data.max_seq_len;
    data.packing = c.data.packing;
    data.seed = c.seed;
    c.data = data;
    c.model = model.toStdString();
    c.base = m_session->quantSettings().baseOptions();
    return c;
}

bool MainWindow::startTraining() {
    if (m_session->isConfigOnly()) {
        m_trainPage->showError(tr("%1 is config only: its weights are not downloaded. Download them "
                                  "(model.safetensors) into %2 and open it again to train.")
                                   .arg(m_session->displayName(), QString::fromStdString(m_session->layout()->path.string())));
        return false;
    }
    if (!m_session->hasModel()) {
        m_trainPage->showError(tr("Open a model first (Model page), or press Demo run."));
        return false;
    }
    return startTrainingWith(QString::fromStdString(m_session->model()->path.string()));
}

bool MainWindow::startTrainingWith(const QString& model) {
    showPage(TrainPageIndex);
    if (!m_dataPage->hasDataset()) {
        m_trainPage->showError(tr("Open a dataset first (Data page)."));
        return false;
    }
    if (const QString reason = m_hparamsPage->validationMessage(); !reason.isEmpty()) {
        m_trainPage->showError(tr("Hyperparameters: %1").arg(reason));
        return false;
    }
    TrainConfig c = composeConfig(model);
    if (const QStringList warnings = startWarnings(c); !warnings.isEmpty()) {
        QString question = tr("This run may not be what you want:\n");
        for (const QString& w : warnings) question += QStringLiteral("\n• %1").arg(w);
        question += tr("\n\nStart it anyway?");
        const bool start = m_askStart ? m_askStart(question)
                                      : QMessageBox::warning(this, tr("Start this run?"), question,
                                                             QMessageBox::Yes | QMessageBox::Cancel,
                                                             QMessageBox::Cancel) == QMessageBox::Yes;
        if (!start) {
            m_trainPage->showError(tr("Not started: %1").arg(warnings.join(QStringLiteral("; "))));
            return false;
        }
    }
    c.run_dir = newRunDir().toStdString();
    return m_controller->start(c);
}

QStringList MainWindow::startWarnings(const TrainConfig& c) const {
    if (!m_dataPage->isPrepared()) return {};
    const DatasetView& data = m_dataPage->view();
    const std::size_t rows = c.data.packing ? data.packedTrainRows : data.trainRows;
    const auto micro = std::size_t(c.micro_batch);
    const std::int64_t steps = planned_total_steps(c, std::int64_t((rows + micro - 1) / micro));
    QStringList out;
    for (const RunWarning& w : run_warnings(c, steps, data.stats.valid.examples))
        out << QString::fromStdString(w.message);
    return out;
}

QString MainWindow::newRunDir() {
    // Not AppDataLocation, which nests organization and application ("QLoRA Studio/QLoRA Studio").
    const QDir root(QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation) + "/qlora-studio/runs");
    const QString stamp = QDateTime::currentDateTime().toString("yyyyMMdd-HHmmss");
    QString dir = root.filePath(stamp);
    for (int n = 2; QFileInfo::exists(dir); ++n) dir = root.filePath(QStringLiteral("%1-%2").arg(stamp).arg(n));
    return dir;
}

void MainWindow::chooseHubModel() {
    bool ok = false;
    const QString reference =
        QInputDialog::getText(this, tr("Open from Hugging Face"),
                              tr("Model ID or URL (e.g. HuggingFaceTB/SmolLM2-135M-Instruct).\n"
                                 "It is downloaded into the Hugging Face cache, or taken from it."),
                              QLineEdit::Normal, {}, &ok)
            .trimmed();
    if (!ok || reference.isEmpty()) return;
    showPage(ModelPageIndex);
    m_session->openFromHub(reference);
}

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
