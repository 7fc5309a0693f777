// SIGINT, SIGTERM and SIGHUP (Ctrl-C in the terminal that started the studio, systemd or kill,
// a logout) as a Qt signal on the UI thread, so that the studio saves a running training
// before it ends instead of dying mid-run. The handler only writes the signal's number to a
// pipe; a QSocketNotifier reads it in the event loop.
#pragma once
#include <QObject>

class QSocketNotifier;

namespace qls::ui {

class QuitSignals : public QObject {
    Q_OBJECT
public:
    explicit QuitSignals(QObject* parent = nullptr);  // one per process
    ~QuitSignals() override;                          // restores the default handlers

    int firstSignal() const { return m_first; }  // 0 until one came

signals:
    // The first signal: save and quit. A third one ends the process at once (exit 128 + signal),
    // as the command line does.
    void quitRequested(int signal);

private:
    void readSignal();
    QSocketNotifier* m_notifier;
    int m_count = 0;
    int m_first = 0;
};

}  // namespace qls::ui
