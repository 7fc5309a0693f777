// Main flow step 4, the dashboard: start, pause, resume, stop and save a run; its progress and
// ETA; live charts of loss, learning rate, gradient norm, throughput, device memory and paging;
// the log. A finished run's folder can be reopened, and other runs overlaid on the loss chart.
#pragma once
#include <QWidget>

#include "ui/run_history.h"
#include "ui/training_controller.h"

class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QAction;
class QToolBar;
class QTabWidget;
class QTimer;
class QSplitter;

namespace qls::ui {

class LiveChart;
class LossChart;
class MemoryChart;
class MetricChart;
class PagingPanel;
class RunComparisonTable;

class TrainPage : public QWidget {
    Q_OBJECT
public:
    explicit TrainPage(TrainingController* controller, QWidget* parent = nullptr);

    // Shows a past run's charts and log; false (and the reason on the page) when unreadable.
    bool openRun(const QString& dir);
    bool overlayRun(const QString& dir);
    void clearOverlays();
    // Writes every chart as <name>.png into `dir`; the error text, empty on success.
    QString exportPngs(const QString& dir);
    QString exportCsv(const QString& path) const { return writeMetricsCsv(m_history, path); }
    void resetViews();
    // Draws what changed now instead of at the next redraw tick (screenshots, tests).
    void refreshCharts();
    void showError(const QString& message);

    const RunHistory& history() const { return m_history; }
    LossChart* lossChart() const { return m_loss; }
    MetricChart* lrChart() const { return m_lr; }
    MemoryChart* memoryChart() const { return m_memory; }
    PagingPanel* pagingPanel() const { return m_paging; }
    QPlainTextEdit* logView() const { return m_log; }
    QProgressBar* progressBar() const { return m_progress; }
    QLabel* errorLabel() const { return m_error; }
    QLabel* statusLabel() const { return m_status; }
    // Start, Pause, Resume, Stop and Save now, with their keys: the window's Training menu.
    QList<QAction*> runActions() const { return {m_start, m_pause, m_resume, m_stop, m_save}; }
    QAction* startAction() const { return m_start; }
    QAction* resumeAction() const { return m_resume; }
    QToolBar* toolbar() const { return m_toolbar; }
    QTabWidget* bottomTabs() const { return m_tabs; }  // the log and the paging events
    RunComparisonTable* comparisonTable() const { return m_comparison; }

signals:
    void startRequested();           // the window builds the config from the other pages
    void runOpened(const QString& dir);

private:
    QWidget* buildToolbar();
    QWidget* buildCharts();
    void onStarted(const QString& dir);
    void onStep(const StepMetrics& s);
    void onEval(const EvalResult& r);
    void onMemory(const MemorySample& m);
    void onPaging(const PagingEvent& p);
    void onState(TrainerState state, const QString& message);
    void onFinished(TrainerState state);
    void appendLog(const QString& line);
    void showHistory(const RunHistory& run);
    void clearCharts();
    void updateButtons();
    void onResumeClicked();
    void chooseRun(bool overlay);
    void chooseExportPngs();
    void chooseExportCsv();
    // Reads the current and overlaid runs' folders again into the comparison table, shown while
    // a run is overlaid.
    void updateComparison();
    void revealComparison();

    TrainingController* m_controller;
    RunHistory m_history;          // the run shown: live, or reopened
    bool m_reloadOnFirstStep = false;  // a resumed run: its earlier steps come from its folder
    QList<LiveChart*> m_charts;
    QTimer* m_redraw;
    LossChart* m_loss;
    MetricChart* m_lr;
    MetricChart* m_gradNorm;
    MetricChart* m_throughput;
    MemoryChart* m_memory;
    PagingPanel* m_paging;
    RunComparisonTable* m_comparison;
    QSplitter* m_split;             // the charts, the comparison, the memory chart and the log
    QStringList m_overlayDirs;      // the runs laid over the loss chart, in its order
    QTimer* m_comparisonTimer;      // reads the live run's folder again while it logs steps
    bool m_comparisonStale = false;  // steps came since the table was filled
    QString m_comparisonError;      // the last one logged, so a recurring one is logged once
    QTabWidget* m_tabs;
    QPlainTextEdit* m_log;
    QProgressBar* m_progress;
    QLabel* m_status;
    QLabel* m_eta;
    QLabel* m_error;
    QToolBar* m_toolbar;
    QAction* m_start;
    QAction* m_pause;
    QAction* m_resume;
    QAction* m_stop;
    QAction* m_save;
    bool m_logFollows = true;     // the log's view is at its newest line
    bool m_appendingLog = false;  // appendLog's own scrolling is not the user's
};

}  // namespace qls::ui
