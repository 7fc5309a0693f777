#include "ui/background_task.h"

#include <QMetaObject>
#include <QPointer>

#include <algorithm>
#include <exception>

#include "core/util/error.h"

namespace qls::ui {

namespace {
constexpr auto kProgressInterval = std::chrono::milliseconds(100);
}

BackgroundTask::BackgroundTask(QObject* parent) : QObject(parent) {}

BackgroundTask::~BackgroundTask() {
    for (auto& run : m_runs) run->stop = true;
    for (auto& run : m_runs)
        if (run->thread.joinable()) run->thread.join();
}

ProgressFn BackgroundTask::makeProgress(Run* run, quint64 generation) {
    // Throttled on the worker, so a tight loop cannot flood the UI thread's queue.
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    return [this, run, last, generation](std::size_t done, std::size_t total) {
        if (run->stop) return false;
        run->done = qint64(done);
        run->total = qint64(total);
        const auto now = std::chrono::steady_clock::now();
        const bool send = done >= total || now - *last >= kProgressInterval;
        run->latestSent = send;
        if (send) {
            *last = now;
            // Members are read only inside the queued call, on the UI thread.
            QMetaObject::invokeMethod(
                this,
                [this, generation, done, total] {
                    if (m_generation == generation && m_running)
                        emit progressed(qint64(done), qint64(total));
                },
                Qt::QueuedConnection);
        }
        return true;
    };
}

void BackgroundTask::start(const QString& operation, Work work) {
    cancel();
    const quint64 generation = ++m_generation;
    m_runs.push_back(std::make_unique<Run>());
    Run* run = m_runs.back().get();
    m_current = run;
    m_running = true;
    m_operation = operation;
    emit started(operation);

    // The destructor joins every worker, so `this` and `run` outlive the thread.
    run->thread = std::jthread([this, run, generation, work = std::move(work),
                                progress = makeProgress(run, generation)] {
        Delivery delivery;
        QString error;
        bool wasCancelled = false;
        try {
            delivery = work(progress);
        } catch (const Cancelled&) {
            wasCancelled = true;
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        } catch (...) {
            error = QStringLiteral("unknown error");
        }
        wasCancelled = wasCancelled || run->stop;
        QMetaObject::invokeMethod(
            this,
            [this, run, generation, delivery = std::move(delivery), error, wasCancelled] {
                if (generation != m_generation) {  // superseded: nobody waits for it
                    joinRun(run);
                    return;
                }
                if (!run->latestSent && !wasCancelled) emit progressed(run->done, run->total);
                m_running = false;
                m_current = nullptr;
                if (wasCancelled) {
                    emit cancelled();
                } else if (!error.isEmpty()) {
                    emit failed(error);
                } else {
                    if (delivery) delivery();
                    emit succeeded();
                }
                joinRun(run);
                if (generation == m_generation) emit finished();  // unless a handler started anew
            },
            Qt::QueuedConnection);
    });
}

void BackgroundTask::cancel() {
    if (m_current) m_current->stop = true;
}

// Called once the run's outcome arrived: its thread is returning, so the join is immediate.
void BackgroundTask::joinRun(Run* run) {
    auto it = std::find_if(m_runs.begin(), m_runs.end(), [run](const auto& r) { return r.get() == run; });
    if (it == m_runs.end()) return;
    if ((*it)->thread.joinable()) (*it)->thread.join();
    m_runs.erase(it);
}

}  // namespace qls::ui
