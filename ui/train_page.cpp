#include "ui/train_page.h"

#include <QDir>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QAction>
#include <QScrollBar>
#include <QSettings>
#include <QSplitter>
#include <QStyle>
#include <QTabWidget>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>

#include <filesystem>
#include <numeric>

#include "ui/chart_style.h"
#include "ui/loss_chart.h"
#include "ui/memory_chart.h"
#include "ui/metric_chart.h"
#include "ui/paging_panel.h"
#include "ui/run_comparison_table.h"

namespace qls::ui {

namespace {
constexpr int kRedrawMs = 100;  // at most ten replots a second, however fast steps come
// The comparison reads every compared run's folder again: after an evaluation, and otherwise at
// most this often while steps come (a step can take milliseconds on the demo model).
constexpr int kComparisonMs = 5000;

QString clockText(double seconds) {
    const auto t = qint64(std::max(0.0, seconds));
    return QStringLiteral("%1:%2:%3").arg(t / 3600).arg(t / 60 % 60, 2, 10, QChar('0')).arg(t % 60, 2, 10, QChar('0'));
}

// The run's controls are actions: the window's Training menu carries their keys, so F5, F6 and
// F7 work on every page, and the page's toolbar shows them as buttons.
QAction* runAction(QWidget* parent, const QString& text, QStyle::StandardPixmap icon, const QKeySequence& keys,
                   const QString& tip) {
    auto* a = new QAction(parent->style()->standardIcon(icon), text, parent);
    a->setShortcut(keys);
    a->setToolTip(QStringLiteral("%1 (%2)").arg(tip, keys.toString(QKeySequence::NativeText)));
    return a;
}

QAction* plainAction(QWidget* parent, const QString& text, const QString& tip = {}) {
    auto* a = new QAction(text, parent);
    if (!tip.isEmpty()) a->setToolTip(tip);
    return a;
}
}  // namespace

TrainPage::TrainPage(TrainingController* controller, QWidget* parent) : QWidget(parent), m_controller(controller) {
    m_error = new QLabel(this);
    m_error->setObjectName("trainError");
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setStyleSheet("color: #c0392b;");
    m_error->hide();
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(buildToolbar());
    layout->addWidget(m_error);
    layout->addWidget(buildCharts(), 1);

    m_redraw = new QTimer(this);
    m_redraw->setInterval(kRedrawMs);
    connect(m_redraw, &QTimer::timeout, this, &TrainPage::refreshCharts);
    m_redraw->start();
    m_comparisonTimer = new QTimer(this);
    m_comparisonTimer->setInterval(kComparisonMs);
    connect(m_comparisonTimer, &QTimer::timeout, this, [this] {
        if (m_comparisonStale) updateComparison();
    });
    m_comparisonTimer->start();

    connect(controller, &TrainingController::started, this, &TrainPage::onStarted);
    connect(controller, &TrainingController::stepFinished, this, &TrainPage::onStep);
    connect(controller, &TrainingController::evalFinished, this, &TrainPage::onEval);
    connect(controller, &TrainingController::memorySampled, this, &TrainPage::onMemory);
    connect(controller, &TrainingController::deviceChosen, this,
            [this](const RunDevice& d) { m_memory->setBackend(d.backend); });
    connect(controller, &TrainingController::pagingEvent, this, &TrainPage::onPaging);
    connect(controller, &TrainingController::logLine, this, [this](const LogLine& l) { appendLog(logText(l)); });
    connect(controller, &TrainingController::stateChanged, this, &TrainPage::onState);
    connect(controller, &TrainingController::errorOccurred, this, &TrainPage::showError);
    connect(controller, &TrainingController::loadProgressed, this, [this](qint64 done, qint64 layers) {
        m_status->setText(
            tr("Loading the base weights onto the device: %1 of %2 layers…").arg(done).arg(layers));
    });
    connect(controller, &TrainingController::finished, this, &TrainPage::onFinished);
    updateButtons();
}

QWidget* TrainPage::buildToolbar() {
    auto* bar = new QWidget(this);
    m_start = runAction(this, tr("Start"), QStyle::SP_MediaPlay, QKeySequence(Qt::Key_F5), tr("Start a new run"));
    m_pause = runAction(this, tr("Pause"), QStyle::SP_MediaPause, QKeySequence(Qt::Key_F6), tr("Pause after this step"));
    m_resume = runAction(this, tr("Resume"), QStyle::SP_MediaSeekForward, QKeySequence(Qt::Key_F7),
                         tr("Continue a paused run, or resume an opened run from its last checkpoint"));
    m_stop = runAction(this, tr("Stop"), QStyle::SP_MediaStop, QKeySequence(Qt::SHIFT | Qt::Key_F5),
                       tr("Finish the step, save a checkpoint and the adapter, and end"));
    m_save = runAction(this, tr("Save now"), QStyle::SP_DialogSaveButton, QKeySequence(Qt::CTRL | Qt::Key_S),
                       tr("Save a checkpoint after this step and go on"));
    connect(m_start, &QAction::triggered, this, [this] {
        m_error->hide();
        emit startRequested();
    });
    connect(m_pause, &QAction::triggered, m_controller, &TrainingController::pause);
    connect(m_resume, &QAction::triggered, this, &TrainPage::onResumeClicked);
    connect(m_stop, &QAction::triggered, m_controller, &TrainingController::stop);
    connect(m_save, &QAction::triggered, m_controller, &TrainingController::saveNow);

    QAction* open = plainAction(this, tr("Open run…"), tr("Show a past run's charts, and resume it if it stopped early"));
    open->setIcon(style()->standardIcon(QStyle::SP_DirOpenIcon));
    QAction* overlay = plainAction(this, tr("Overlay run…"),
                                   tr("Draw another run's smoothed loss over this one (e.g. NF4 against FP4)"));
    QAction* clearOverlay = plainAction(this, tr("Clear overlays"));
    QAction* reset = plainAction(this, tr("Reset view"),
                                 tr("Fit every chart to its data again (or double-click a chart); drag pans, the "
                                    "wheel zooms"));
    QAction* png = plainAction(this, tr("Export PNG…"), tr("Every chart as a PNG file"));
    QAction* csv = plainAction(this, tr("Export CSV…"), tr("The run's metrics as CSV"));
    connect(open, &QAction::triggered, this, [this] { chooseRun(false); });
    connect(overlay, &QAction::triggered, this, [this] { chooseRun(true); });
    connect(clearOverlay, &QAction::triggered, this, &TrainPage::clearOverlays);
    connect(reset, &QAction::triggered, this, &TrainPage::resetViews);
    connect(png, &QAction::triggered, this, &TrainPage::chooseExportPngs);
    connect(csv, &QAction::triggered, this, &TrainPage::chooseExportCsv);

    m_status = new QLabel(tr("No run yet. Press Start (F5), or Demo for a one-click run."), bar);
    m_status->setObjectName("trainStatus");
    m_progress = new QProgressBar(bar);
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progress->setFormat(tr("step %v / %m"));
    m_eta = new QLabel(bar);
    m_eta->setMinimumWidth(120);

    // A toolbar folds what does not fit behind its » button, so a narrow window keeps every
    // control; the run's own controls come first and stay in view.
    m_toolbar = new QToolBar(bar);
    m_toolbar->setObjectName("trainToolbar");
    m_toolbar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    m_toolbar->setIconSize(QSize(16, 16));
    m_toolbar->addActions({m_start, m_pause, m_resume, m_stop, m_save});
    m_toolbar->addSeparator();
    m_toolbar->addActions({open, overlay, clearOverlay, reset, png, csv});
    m_toolbar->widgetForAction(m_start)->setObjectName("startButton");
    m_toolbar->widgetForAction(m_resume)->setObjectName("resumeButton");
    auto* progress = new QHBoxLayout;
    progress->addWidget(m_status, 2);
    progress->addWidget(m_progress, 3);
    progress->addWidget(m_eta);
    auto* v = new QVBoxLayout(bar);
    v->setContentsMargins(0, 0, 0, 0);
    v->addWidget(m_toolbar);
    v->addLayout(progress);
    return bar;
}

QWidget* TrainPage::buildCharts() {
    m_loss = new LossChart(this);
    m_lr = new MetricChart(tr("Learning rate"), tr("lr"), palette8(2), this);
    m_gradNorm = new MetricChart(tr("Gradient norm (before clipping)"), tr("‖g‖"), palette8(3), this);
    m_throughput = new MetricChart(tr("Throughput"), tr("tokens / s"), palette8(4), this);
    m_memory = new MemoryChart(this);
    m_paging = new PagingPanel(this);
    m_log = new QPlainTextEdit(this);
    m_log->setObjectName("trainLog");
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(5000);
    m_log->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    QScrollBar* logBar = m_log->verticalScrollBar();
    connect(logBar, &QScrollBar::valueChanged, this, [this, logBar](int value) {
        if (!m_appendingLog) m_logFollows = value >= logBar->maximum();
    });
    connect(logBar, &QScrollBar::rangeChanged, this, [this, logBar](int, int max) {
        if (m_logFollows) logBar->setValue(max);
    });
    m_charts = {m_loss, m_lr, m_gradNorm, m_throughput, m_memory, m_paging->chart()};

    auto* metrics = new QSplitter(Qt::Vertical, this);
    for (MetricChart* c : {m_lr, m_gradNorm, m_throughput}) metrics->addWidget(c);
    auto* top = new QSplitter(Qt::Horizontal, this);
    top->addWidget(m_loss);
    top->addWidget(metrics);
    top->setStretchFactor(0, 3);
    top->setStretchFactor(1, 2);

    m_tabs = new QTabWidget(this);
    m_tabs->addTab(m_log, tr("Log"));
    m_tabs->addTab(m_paging, tr("Paging events"));
    auto* bottom = new QSplitter(Qt::Horizontal, this);
    bottom->addWidget(m_memory);
    bottom->addWidget(m_tabs);
    bottom->setStretchFactor(0, 3);
    bottom->setStretchFactor(1, 2);

    // The comparison sits under the loss chart whose overlays it describes, the page's whole width
    // (a column per run), shown once a run is laid over the current one.
    m_comparison = new RunComparisonTable(this);
    m_comparison->hide();

    m_split = new QSplitter(Qt::Vertical, this);
    m_split->addWidget(top);
    m_split->addWidget(m_comparison);
    m_split->addWidget(bottom);
    m_split->setStretchFactor(0, 3);
    m_split->setStretchFactor(1, 2);
    m_split->setStretchFactor(2, 2);
    return m_split;
}

void TrainPage::refreshCharts() {
    for (LiveChart* c : m_charts) c->refresh();
}

void TrainPage::resetViews() {
    for (LiveChart* c : m_charts) c->resetView();
}

void TrainPage::clearCharts() {
    m_loss->clear();
    for (MetricChart* c : {m_lr, m_gradNorm, m_throughput}) c->clear();
    m_memory->clear();
    m_paging->clear();
    m_log->clear();
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_eta->clear();
}

void TrainPage::onStarted(const QString& dir) {
    m_reloadOnFirstStep = QDir::cleanPath(dir) == QDir::cleanPath(m_history.dir) && !m_history.empty();
    clearCharts();
    m_history = RunHistory{};
    m_history.dir = QDir(dir).absolutePath();
    m_history.name = QDir(dir).dirName();
    m_error->hide();
    appendLog(tr("run folder: %1").arg(m_history.dir));
    for (LiveChart* c : m_charts) c->resetView();
    updateButtons();
}

void TrainPage::onStep(const StepMetrics& s) {
    if (m_reloadOnFirstStep) {
        // The trainer cut metrics.jsonl back to its checkpoint before this step: show that part.
        m_reloadOnFirstStep = false;
        try {
            RunHistory before = readRunHistory(m_history.dir);
            std::erase_if(before.steps, [&](const StepMetrics& m) { return m.step >= s.step; });
            std::erase_if(before.evals, [&](const EvalResult& r) { return r.step >= s.step; });
            m_history.steps = before.steps;
            m_history.evals = before.evals;
            m_loss->setRun(m_history);
            for (const StepMetrics& m : before.steps) {
                m_lr->add(double(m.step), m.lr);
                m_gradNorm->add(double(m.step), m.grad_norm);
                m_throughput->add(double(m.step), m.tokens_per_s);
            }
        } catch (const std::exception& e) {
            appendLog(tr("could not read the earlier steps: %1").arg(e.what()));
        }
    }
    m_history.steps.push_back(s);
    m_loss->addStep(s);
    m_lr->add(double(s.step), s.lr);
    m_gradNorm->add(double(s.step), s.grad_norm);
    m_throughput->add(double(s.step), s.tokens_per_s);
    m_comparisonStale = true;
    m_progress->setRange(0, int(s.total_steps));
    m_progress->setValue(int(s.step));
    m_eta->setText(tr("ETA %1").arg(clockText(s.eta_s)));
    m_status->setText(tr("step %1 / %2 · epoch %3 · loss %4 · %5 tokens/s · %6 elapsed")
                          .arg(s.step)
                          .arg(s.total_steps)
                          .arg(s.epoch, 0, 'f', 2)
                          .arg(s.loss, 0, 'f', 4)
                          .arg(s.tokens_per_s, 0, 'f', 0)
                          .arg(clockText(s.elapsed_s)));
}

void TrainPage::onEval(const EvalResult& r) {
    m_history.evals.push_back(r);
    m_loss->addEval(r);
    updateComparison();
    appendLog(tr("step %1: validation loss %2, perplexity %3%4")
                  .arg(r.step)
                  .arg(r.loss, 0, 'f', 4)
                  .arg(r.perplexity, 0, 'f', 2)
                  .arg(r.best ? tr(" (best)") : QString()));
}

void TrainPage::onMemory(const MemorySample& m) {
    m_history.memory.push_back(m);
    m_memory->addSample(m);
}

void TrainPage::onPaging(const PagingEvent& p) {
    m_history.paging.push_back(p);
    m_paging->addEvent(p);
}

void TrainPage::onState(TrainerState state, const QString& message) {
    m_history.lastState = state;
    appendLog(stateLogText(state, message));
    if (state == TrainerState::Loading) m_status->setText(tr("Loading the model and preparing the data…"));
    if (state == TrainerState::Paused) m_eta->setText(tr("paused"));
    updateButtons();
}

void TrainPage::onFinished(TrainerState state) {
    m_history.hasCheckpoint = true;
    if (state == TrainerState::Finished || state == TrainerState::Stopped)
        appendLog(tr("adapter: %1").arg(QDir(m_history.dir).filePath("adapter")));
    m_eta->setText(stateText(state));
    refreshCharts();
    updateComparison();
    updateButtons();
}

// The log follows new lines while its view is at the bottom; once the user scrolls up it stays
// where they are (QPlainTextEdit alone stops following whenever the page is hidden).
void TrainPage::appendLog(const QString& line) {
    m_appendingLog = true;
    m_log->appendPlainText(line);
    m_appendingLog = false;
    if (m_logFollows) m_log->verticalScrollBar()->setValue(m_log->verticalScrollBar()->maximum());
}

void TrainPage::showError(const QString& message) {
    m_error->setText(message);
    m_error->show();
    appendLog(tr("error: %1").arg(message));
}

void TrainPage::updateButtons() {
    const bool active = m_controller->isActive();
    const TrainerState s = m_controller->state();
    const bool resumable = !active && !m_history.dir.isEmpty() && m_history.lastState != TrainerState::Finished &&
                           !m_history.empty();
    m_start->setEnabled(!active);
    m_pause->setEnabled(active && s != TrainerState::Paused && s != TrainerState::Loading);
    m_resume->setEnabled((active && s == TrainerState::Paused) || resumable);
    m_stop->setEnabled(active);
    m_save->setEnabled(active && s != TrainerState::Loading);
}

void TrainPage::onResumeClicked() {
    if (m_controller->isActive()) m_controller->resumeTraining();
    else m_controller->resume(m_history.dir);
}

void TrainPage::showHistory(const RunHistory& run) {
    clearCharts();
    m_history = run;
    m_loss->setRun(run);
    for (const StepMetrics& s : run.steps) {
        m_lr->add(double(s.step), s.lr);
        m_gradNorm->add(double(s.step), s.grad_norm);
        m_throughput->add(double(s.step), s.tokens_per_s);
    }
    for (const PagingEvent& p : run.paging) m_paging->addEvent(p);
    for (const MemorySample& m : run.memory) m_memory->addSample(m);
    if (!run.backend.empty()) m_memory->setBackend(run.backend);
    for (const QString& line : run.log) appendLog(line);
    const std::int64_t last = run.steps.empty() ? 0 : run.steps.back().step;
    const std::int64_t total = run.steps.empty() ? 0 : std::max(last, run.steps.back().total_steps);
    m_progress->setRange(0, int(std::max<std::int64_t>(1, total)));
    m_progress->setValue(int(last));
    // A run that ended before its last step (stopped, failed, or a process that was killed and
    // never said so) is interrupted at its true step, whatever its last recorded state.
    if (run.lastState == TrainerState::Finished || (total > 0 && last >= total))
        m_status->setText(tr("%1: %2 of %3 steps, %4").arg(run.name).arg(last).arg(total).arg(stateText(run.lastState)));
    else
        m_status->setText(tr("%1: interrupted at step %2 of %3 (%4)%5")
                              .arg(run.name)
                              .arg(last)
                              .arg(total)
                              .arg(isTerminal(run.lastState) ? stateText(run.lastState) : tr("the process ended"))
                              .arg(run.hasCheckpoint ? tr("; Resume (F7) continues it from its last checkpoint")
                                                     : QString()));
    m_eta->clear();
    resetViews();
    updateButtons();
    updateComparison();
}

bool TrainPage::openRun(const QString& dir) {
    if (m_controller->isActive()) {
        showError(tr("A run is active: stop it before opening another."));
        return false;
    }
    try {
        showHistory(readRunHistory(dir));
    } catch (const std::exception& e) {
        showError(tr("Cannot open the run %1: %2").arg(dir, e.what()));
        return false;
    }
    m_error->hide();
    emit runOpened(m_history.dir);
    return true;
}

bool TrainPage::overlayRun(const QString& dir) {
    try {
        m_loss->addOverlay(readRunHistory(dir));
    } catch (const std::exception& e) {
        showError(tr("Cannot overlay the run %1: %2").arg(dir, e.what()));
        return false;
    }
    m_loss->resetView();
    m_overlayDirs << QDir(dir).absolutePath();
    updateComparison();
    emit runOpened(QDir(dir).absolutePath());
    return true;
}

void TrainPage::clearOverlays() {
    m_loss->clearOverlays();
    m_loss->resetView();
    m_overlayDirs.clear();
    updateComparison();
}

// A splitter gives a widget shown again only its minimum: the height goes 3 : 2 : 2 to the
// charts (at least their minimum), the table, and the memory chart with the log. Where the last
// would get less than it needs (a 700-pixel-high window) it folds away instead; dragging the
// handle up brings it back.
void TrainPage::revealComparison() {
    m_comparison->show();
    const QList<int> sizes = m_split->sizes();
    const int total = std::accumulate(sizes.begin(), sizes.end(), 0);
    const int top = std::max(total * 3 / 7, m_split->widget(0)->minimumSizeHint().height());
    int table = (total - top) / 2, bottom = total - top - table;
    if (bottom < m_split->widget(2)->minimumSizeHint().height()) {
        table += bottom;
        bottom = 0;
    }
    m_split->setSizes({top, table, bottom});
}

void TrainPage::updateComparison() {
    m_comparisonStale = false;
    if (m_overlayDirs.isEmpty()) {
        m_comparison->clearComparison();
        m_comparison->hide();
        return;
    }
    if (m_comparison->isHidden()) revealComparison();
    // Columns in the loss chart's colours: the current run's curve, then each overlay's.
    std::vector<std::filesystem::path> dirs;
    QList<QColor> colors;
    if (!m_history.dir.isEmpty()) {
        dirs.emplace_back(m_history.dir.toStdString());
        colors << palette8(0);
    }
    for (int i = 0; i < m_overlayDirs.size(); ++i) {
        dirs.emplace_back(m_overlayDirs[i].toStdString());
        colors << palette8(2 + i);
    }
    try {
        m_comparison->setComparison(compare_runs(dirs), colors);
        m_comparisonError.clear();
    } catch (const std::exception& e) {
        const QString message = tr("cannot compare the runs: %1").arg(e.what());
        if (message != m_comparisonError) appendLog(message);
        m_comparisonError = message;
    }
}

void TrainPage::chooseRun(bool overlay) {
    const QString dir = QFileDialog::getExistingDirectory(this, overlay ? tr("Overlay a run") : tr("Open a run"),
                                                          QSettings().value("lastRunDir").toString());
    if (dir.isEmpty()) return;
    QSettings().setValue("lastRunDir", QFileInfo(dir).absolutePath());
    if (overlay) overlayRun(dir);
    else openRun(dir);
}

QString TrainPage::exportPngs(const QString& dir) {
    const QStringList names = {"loss", "learning_rate", "grad_norm", "tokens_per_s", "memory", "paging"};
    for (int i = 0; i < m_charts.size(); ++i) {
        const QString error = savePlotPng(m_charts[i], QDir(dir).filePath(names[i] + ".png"));
        if (!error.isEmpty()) return error;
    }
    return {};
}

void TrainPage::chooseExportPngs() {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Write the charts as PNG into"));
    if (dir.isEmpty()) return;
    if (const QString error = exportPngs(dir); !error.isEmpty()) showError(error);
}

void TrainPage::chooseExportCsv() {
    const QString path = QFileDialog::getSaveFileName(this, tr("Export the metrics as CSV"),
                                                      m_history.name.isEmpty() ? "metrics.csv" : m_history.name + ".csv",
                                                      tr("CSV files (*.csv)"));
    if (path.isEmpty()) return;
    if (const QString error = exportCsv(path); !error.isEmpty()) showError(error);
}

}  // namespace qls::ui
