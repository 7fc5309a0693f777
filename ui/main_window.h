// The studio's window: a sidebar of pages (Model, Inspect), the File menu, and a status bar
// with the backend, GPU memory and whatever runs in the background.
#pragma once
#include <QMainWindow>

#include "ui/background_task.h"
#include "ui/device_status.h"

class QLabel;
class QListWidget;
class QMenu;
class QProgressBar;
class QStackedWidget;

namespace qls::ui {

class InspectPage;
class ModelPage;
class ModelSession;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    enum Page { ModelPageIndex, InspectPageIndex, PageCount };

    explicit MainWindow(QWidget* parent = nullptr);

    ModelSession* session() const { return m_session; }
    ModelPage* modelPage() const { return m_modelPage; }
    InspectPage* inspectPage() const { return m_inspectPage; }
    void showPage(Page page);
    Page currentPage() const;
    static QString pageName(Page page);  // "model", "inspect": file names for screenshots

    void openModel(const QString& path);
    void openDemoModel();

private:
    void buildMenus();
    void buildStatusBar();
    void chooseModelFolder();
    void chooseGgufFile();
    void rebuildRecentMenu();
    void watchTask(BackgroundTask* task);
    void refreshOperation();
    void refreshDevice();
    void showDevice(const DeviceStatus& status);

    ModelSession* m_session;
    QListWidget* m_sidebar;
    QStackedWidget* m_pages;
    ModelPage* m_modelPage;
    InspectPage* m_inspectPage;
    QMenu* m_recentMenu = nullptr;
    QList<BackgroundTask*> m_watched;
    BackgroundTask m_deviceQuery;
    bool m_deviceReported = false;  // the Model page got the first answer
    bool m_pollDevice = false;      // a GPU's memory changes: keep asking
    QLabel* m_backendLabel;
    QLabel* m_vramLabel;
    QLabel* m_operationLabel;
    QProgressBar* m_operationProgress;
};

}  // namespace qls::ui
