// The only bridge between the trainer thread and the widgets (STYLE.md §5): owns the Trainer,
// drains its EventChannel on a UI-thread timer and re-emits each report as a signal carrying a
// plain value. Control goes the other way through the Trainer's thread-safe calls.
#pragma once
#include <QMetaType>
#include <QObject>
#include <QString>
#include <QTimer>

#include <memory>
#include <vector>

#include "core/train/train_config.h"
#include "core/train/train_events.h"

namespace qls {
class Trainer;
}

Q_DECLARE_METATYPE(qls::StepMetrics)
Q_DECLARE_METATYPE(qls::EvalResult)
Q_DECLARE_METATYPE(qls::MemorySample)
Q_DECLARE_METATYPE(qls::PagingEvent)
Q_DECLARE_METATYPE(qls::LogLine)
Q_DECLARE_METATYPE(qls::RunDevice)
Q_DECLARE_METATYPE(qls::TrainerState)

namespace qls::ui {

// "what\nWhat to do: advice", the way the studio shows a trainer error.
QString describeError(const ErrorInfo& error);
QString stateText(TrainerState state);  // "training", "paused", ...
bool isTerminal(TrainerState state);

class TrainingController : public QObject {
    Q_OBJECT
public:
    explicit TrainingController(QObject* parent = nullptr, int drainIntervalMs = 66);
    ~TrainingController() override;  // cancels a running trainer and joins its thread

    // A new run in config.run_dir. False (and errorOccurred) when a run is active or the
    // config is refused; the reason names the field.
    bool start(const TrainConfig& config);
    // Continues the run in `runDir` from its latest checkpoint with its own run.json.
    bool resume(const QString& runDir);

    void pause();
    void resumeTraining();
    void stop();    // checkpoint, adapter, then end
    void saveNow();
    void cancel();  // end after the current step without saving

    bool isActive() const { return m_trainer != nullptr; }
    TrainerState state() const { return m_state; }
    QString runDir() const { return m_runDir; }
    // The active (or last) run's settings; default-constructed before the first run.
    const TrainConfig& config() const { return m_config; }

signals:
    void started(const QString& runDir);
    void stepFinished(const qls::StepMetrics& metrics);
    void evalFinished(const qls::EvalResult& result);
    void memorySampled(const qls::MemorySample& sample);
    void pagingEvent(const qls::PagingEvent& event);
    void logLine(const qls::LogLine& line);
    void deviceChosen(const qls::RunDevice& device);
    void stateChanged(qls::TrainerState state, const QString& message);
    void errorOccurred(const QString& message);
    // Loading the base onto the device: `done` of `layers` are there.
    void loadProgressed(qint64 done, qint64 layers);
    // The trainer thread has ended (finished, stopped, cancelled or failed) and was joined.
    void finished(qls::TrainerState state);

private:
    bool launch(std::unique_ptr<Trainer> trainer);
    void drain();
    void deliver(const TrainEvent& event);
    void end();

    std::unique_ptr<Trainer> m_trainer;
    TrainConfig m_config;
    QString m_runDir;
    TrainerState m_state = TrainerState::Idle;
    QTimer m_drainTimer;
    std::vector<TrainEvent> m_batch;  // reused between drains
};

}  // namespace qls::ui
