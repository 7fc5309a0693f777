// `qlora-studio --screenshot DIR`: once the model is loaded, the error table computed and a
// tensor's charts drawn, and (with a dataset open) a short real training run has finished and
// the playground has answered a prompt with and without its adapter, render every page of the
// window into DIR/<page>.png.
#pragma once
#include <QObject>
#include <QString>
#include <QTemporaryDir>
#include <QTimer>

namespace qls::ui {

class MainWindow;

class ScreenshotRunner : public QObject {
    Q_OBJECT
public:
    // `trainSteps`: the length of the run whose charts the Train page shows.
    ScreenshotRunner(MainWindow* window, QString dir, int timeoutMs = 300000, int trainSteps = 60);

signals:
    void finished(bool ok, const QString& message);

private:
    QString runDir() const;
    void checkReady();
    void startRun();
    void startGeneration();
    void capture();
    void fail(const QString& message);

    MainWindow* m_window;
    QString m_dir;
    int m_trainSteps;
    QTemporaryDir m_runRoot;  // the screenshot run's folder: not one of the user's runs
    QTimer m_timeout;
    bool m_trainingStarted = false;
    bool m_trained = false;
    bool m_generationStarted = false;
    bool m_generated = false;
    bool m_done = false;
};

}  // namespace qls::ui
