// Runs one piece of heavy core work (loading, quantizing, inspecting) off the UI thread and
// brings its outcome back as queued signals, so widgets never block and never see an exception.
#pragma once
#include <QObject>
#include <QString>

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <thread>

#include "core/util/progress.h"

namespace qls::ui {

class BackgroundTask : public QObject {
    Q_OBJECT
public:
    // Runs on the worker thread; the returned function runs afterwards on the UI thread and
    // hands the result to whoever asked (captured by value, so the result moves across).
    using Delivery = std::function<void()>;
    using Work = std::function<Delivery(const ProgressFn& progress)>;

    explicit BackgroundTask(QObject* parent = nullptr);
    ~BackgroundTask() override;  // asks the running work to stop and joins every worker

    // Cancels whatever runs now (its outcome is dropped) and starts `work`.
    void start(const QString& operation, Work work);
    // The running work's next progress call returns false; core throws Cancelled.
    void cancel();
    bool isRunning() const { return m_running; }
    QString operation() const { return m_operation; }

signals:
    void started(const QString& operation);
    // At most about ten a second; the last call before the end is always delivered.
    void progressed(qint64 done, qint64 total);
    void succeeded();
    void failed(const QString& message);
    void cancelled();
    // After any of the three outcomes above.
    void finished();

private:
    struct Run {
        std::atomic<bool> stop{false};
        // The latest progress call, and whether it was forwarded (so the end can flush it).
        std::atomic<qint64> done{-1}, total{0};
        std::atomic<bool> latestSent{true};
        std::jthread thread;
    };
    ProgressFn makeProgress(Run* run, quint64 generation);
    void joinRun(Run* run);

    // Runs whose outcome has not arrived yet: the current one last, older ones cancelled.
    std::list<std::unique_ptr<Run>> m_runs;
    Run* m_current = nullptr;
    quint64 m_generation = 0;
    bool m_running = false;
    QString m_operation;
};

}  // namespace qls::ui
