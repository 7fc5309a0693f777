// `qlora-studio --screenshot DIR`: once the model is loaded, the error table computed and a
// tensor's charts drawn, render every page of the window into DIR/<page>.png.
#pragma once
#include <QObject>
#include <QString>
#include <QTimer>

namespace qls::ui {

class MainWindow;

class ScreenshotRunner : public QObject {
    Q_OBJECT
public:
    ScreenshotRunner(MainWindow* window, QString dir, int timeoutMs = 300000);

signals:
    void finished(bool ok, const QString& message);

private:
    void checkReady();
    void capture();
    void fail(const QString& message);

    MainWindow* m_window;
    QString m_dir;
    QTimer m_timeout;
    bool m_done = false;
};

}  // namespace qls::ui
