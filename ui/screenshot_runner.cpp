#include "ui/screenshot_runner.h"

#include <QApplication>
#include <QDir>
#include <QTabWidget>
#include <qcustomplot.h>

#include "core/util/resource_paths.h"
#include "ui/data_page.h"
#include "ui/inspect_page.h"
#include "ui/main_window.h"
#include "ui/model_session.h"
#include "ui/playground_page.h"
#include "ui/tensor_detail_panel.h"
#include "ui/train_page.h"
#include "ui/training_controller.h"

namespace qls::ui {

ScreenshotRunner::ScreenshotRunner(MainWindow* window, QString dir, int timeoutMs, int trainSteps)
    : QObject(window), m_window(window), m_dir(std::move(dir)), m_trainSteps(trainSteps) {
    InspectPage* inspect = window->inspectPage();
    connect(window->session(), &ModelSession::loadFailed, this,
            [this](const QString& path, const QString& message) { fail(tr("could not open %1: %2").arg(path, message)); });
    connect(inspect, &InspectPage::tableFailed, this,
            [this](const QString& message) { fail(tr("the error table failed: %1").arg(message)); });
    connect(inspect->detail(), &TensorDetailPanel::tensorFailed, this,
            [this](const QString& message) { fail(tr("the tensor charts failed: %1").arg(message)); });
    connect(window->dataPage(), &DataPage::prepareFailed, this,
            [this](const QString& message) { fail(tr("the dataset failed: %1").arg(message)); });
    connect(inspect, &InspectPage::tableComputed, this, &ScreenshotRunner::checkReady);
    connect(inspect->detail(), &TensorDetailPanel::tensorShown, this, &ScreenshotRunner::checkReady);
    connect(window->dataPage(), &DataPage::prepared, this, &ScreenshotRunner::checkReady);
    TrainingController* controller = window->controller();
    connect(controller, &TrainingController::errorOccurred, this,
            [this](const QString& message) { fail(tr("the training run failed: %1").arg(message)); });
    connect(controller, &TrainingController::finished, this, [this](TrainerState) {
        m_trained = true;
        checkReady();
    });
    PlaygroundPage* playground = window->playgroundPage();
    connect(playground, &PlaygroundPage::generationFinished, this, [this, playground] {
        for (const auto side : {GenerationWorker::Base, GenerationWorker::Adapter})
            if (!playground->errorText(side).isEmpty())
                return fail(tr("the playground failed: %1").arg(playground->errorText(side)));
        m_generated = true;
        checkReady();
    });
    m_timeout.setSingleShot(true);
    connect(&m_timeout, &QTimer::timeout, this, [this] { fail(tr("timed out waiting for the model, data and run")); });
    m_timeout.start(timeoutMs);
}

QString ScreenshotRunner::runDir() const { return QDir(m_runRoot.path()).filePath("screenshot-run"); }

void ScreenshotRunner::checkReady() {
    const InspectPage* inspect = m_window->inspectPage();
    if (m_done || !inspect->tableReady() || !inspect->detail()->hasResult()) return;
    DataPage* data = m_window->dataPage();
    if (data->hasDataset() && !m_trained) {
        if (data->isPrepared() && !m_trainingStarted) startRun();
        return;
    }
    if (m_trained && !m_generated) {
        if (!m_generationStarted) startGeneration();
        return;
    }
    // Let queued replots and layout requests settle before painting.
    QTimer::singleShot(200, this, &ScreenshotRunner::capture);
}

// A short real run of the pages' settings, with a small optimizer budget so that the paging
// chart has moves to show, on a rehearsed 48 MiB device so that the memory chart has its line.
void ScreenshotRunner::startRun() {
    m_trainingStarted = true;
    if (!m_runRoot.isValid()) return fail(tr("cannot create a temporary run folder"));
    const auto* model = m_window->session()->model().get();
    TrainConfig c = m_window->composeConfig(QString::fromStdString(model->path.string()));
    c.max_steps = m_trainSteps;
    c.eval_every = std::max(1, m_trainSteps / 3);
    c.save_every = 0;
    c.optim.paging.page_bytes = 64 << 10;
    c.optim.paging.device_budget_bytes = 256 << 10;
    c.device_limit_bytes = 48 << 20;
    c.run_dir = runDir().toStdString();
    if (!m_window->controller()->start(c)) fail(tr("the screenshot run did not start"));
}

// The playground on the run just trained: the same chat prompt, greedy, base and adapter.
void ScreenshotRunner::startGeneration() {
    m_generationStarted = true;
    PlaygroundPage* playground = m_window->playgroundPage();
    playground->setAdapterSource(PlaygroundPage::AdapterMode::RunLatestCheckpoint,
                                 runDir());
    playground->setPrompt(QStringLiteral("Tell me a fortune about love."));
    SamplingOptions sampling = playground->samplingOptions();
    sampling.temperature = 0.0f;
    sampling.max_new_tokens = 48;
    playground->setSamplingOptions(sampling);
    playground->generate();
    if (!playground->isGenerating()) fail(tr("the playground did not start generating"));
}

void ScreenshotRunner::capture() {
    if (m_done) return;
    if (!QDir().mkpath(m_dir)) return fail(tr("cannot create the folder %1").arg(m_dir));
    m_window->trainPage()->refreshCharts();
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
    // The Train page once more with the paging chart and table in front of the log.
    m_window->showPage(MainWindow::TrainPageIndex);
    QTabWidget* tabs = m_window->trainPage()->bottomTabs();
    tabs->setCurrentIndex(tabs->count() - 1);
    QApplication::processEvents();
    for (QCustomPlot* plot : m_window->findChildren<QCustomPlot*>()) plot->replot(QCustomPlot::rpImmediateRefresh);
    const QString paging = QDir(m_dir).filePath("train-paging.png");
    if (!m_window->grab().save(paging, "PNG")) return fail(tr("cannot write %1").arg(paging));
    written << paging;
    tabs->setCurrentIndex(0);
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
