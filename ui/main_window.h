// The studio's window: a sidebar of pages in the order of the main flow (Model, Data,
// Hyperparameters, Train, Inspect, Playground, Export), the File menu with recent models, datasets and runs, the
// one-click demo run, and a status bar with the backend, memory and the training state.
#pragma once
#include <QMainWindow>

#include <functional>

#include "core/train/train_config.h"
#include "core/train/train_events.h"
#include "ui/background_task.h"
#include "ui/device_status.h"

class QCloseEvent;
class QLabel;
class QListWidget;
class QMenu;
class QProgressBar;
class QStackedWidget;

namespace qls::ui {

class DataPage;
class ExportPage;
class PlaygroundPage;
class HparamsPage;
class InspectPage;
class ModelPage;
class ModelSession;
class TrainPage;
class TrainingController;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    enum Page {
        ModelPageIndex, DataPageIndex, HparamsPageIndex, TrainPageIndex, InspectPageIndex, PlaygroundPageIndex,
        ExportPageIndex, PageCount
    };

    explicit MainWindow(QWidget* parent = nullptr);

    ModelSession* session() const { return m_session; }
    TrainingController* controller() const { return m_controller; }
    ModelPage* modelPage() const { return m_modelPage; }
    DataPage* dataPage() const { return m_dataPage; }
    HparamsPage* hparamsPage() const { return m_hparamsPage; }
    TrainPage* trainPage() const { return m_trainPage; }
    InspectPage* inspectPage() const { return m_inspectPage; }
    PlaygroundPage* playgroundPage() const { return m_playgroundPage; }
    ExportPage* exportPage() const { return m_exportPage; }
    void showPage(Page page);
    Page currentPage() const;
    static QString pageName(Page page);  // "model", "data", ...: file names for screenshots

    void openModel(const QString& path);
    void openDemoModel();
    // The demo model and data with a short run's settings (the Train page's Start runs it).
    void setUpDemo();
    // setUpDemo, then start at once: a first launch trains in one click.
    void startDemoRun();
    // A new run from the pages' settings in a fresh folder under the app's data location;
    // false (with the reason shown) when something is missing or refused.
    bool startTraining();
    // The same for the model at `model` (the session's may still be loading).
    bool startTrainingWith(const QString& model);
    // The config startTraining would run, for `model` (a path); the run folder not yet chosen.
    TrainConfig composeConfig(const QString& model) const;
    // ~/.local/share/qlora-studio/runs/<yyyyMMdd-HHmmss>, made unique.
    static QString newRunDir();
    // The demo run's settings: 60 steps, micro-batch 8, lr 1e-3, rank 8, sequence 128.
    static TrainConfig demoConfig();

    // Ends the application without losing training: an active run finishes its step, saves a
    // checkpoint and stops (resumable from the Train page), then the window closes. What a
    // close with a run active does once the user agrees, and what SIGTERM, SIGHUP and SIGINT do.
    void saveAndQuit();
    // Asked when the window is closed while a run trains: true saves and quits (saveAndQuit),
    // false keeps training. A dialog by default; tests set their answer.
    void setCloseQuestion(std::function<bool(const QString& question)> ask) { m_askClose = std::move(ask); }
    // Asked before a run that cannot learn or has nothing to validate on (run_plan.h) starts:
    // true starts it anyway. A dialog by default; tests set their answer.
    void setStartQuestion(std::function<bool(const QString& question)> ask) { m_askStart = std::move(ask); }
    // The warnings a start from the pages' settings would ask about, each with its fix; empty
    // until the data is prepared (the run's log repeats them then).
    QStringList startWarnings(const TrainConfig& c) const;

    // QSettings: geometry, page, splitters, hyperparameters, theme (window_settings.cpp).
    void restoreSettings();
    void saveSettings() const;

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void buildMenus();
    void showAbout();
    void buildStatusBar();
    QWidget* buildSidebar();
    void chooseModelFolder();
    void chooseHubModel();
    void chooseGgufFile();
    void rebuildRecentMenu();
    void watchTask(BackgroundTask* task);
    void refreshOperation();
    void refreshDevice();
    void showDevice(const DeviceStatus& status);
    void showTrainingMemory(const MemorySample& sample);
    void showTrainingState(TrainerState state, const QString& message);
    void useRun(const QString& runDir);  // the Playground's and Export's adapter source

    ModelSession* m_session;
    TrainingController* m_controller;
    QListWidget* m_sidebar;
    QStackedWidget* m_pages;
    ModelPage* m_modelPage;
    DataPage* m_dataPage;
    HparamsPage* m_hparamsPage;
    TrainPage* m_trainPage;
    InspectPage* m_inspectPage;
    PlaygroundPage* m_playgroundPage;
    ExportPage* m_exportPage;
    QMenu* m_recentMenu = nullptr;
    QList<BackgroundTask*> m_watched;
    BackgroundTask m_deviceQuery;
    bool m_deviceReported = false;  // the Model page got the first answer
    bool m_quitting = false;        // saveAndQuit: close once the run has ended
    std::function<bool(const QString&)> m_askClose;
    std::function<bool(const QString&)> m_askStart;
    bool m_pollDevice = false;      // a GPU's memory changes: keep asking
    QLabel* m_backendLabel;
    QLabel* m_vramLabel;
    QLabel* m_trainLabel;
    QLabel* m_operationLabel;
    QProgressBar* m_operationProgress;
};

}  // namespace qls::ui
