#include "ui/training_controller.h"

#include <exception>

#include "core/train/trainer.h"

namespace qls::ui {

QString describeError(const ErrorInfo& error) {
    QString text = QString::fromStdString(error.what);
    if (!error.advice.empty()) text += QObject::tr("\nWhat to do: %1").arg(QString::fromStdString(error.advice));
    if (error.resumable) text += QObject::tr("\nThe run can be resumed from its last checkpoint.");
    return text;
}

QString stateText(TrainerState state) { return QString::fromLatin1(trainer_state_name(state).data()); }

bool isTerminal(TrainerState state) {
    return state == TrainerState::Finished || state == TrainerState::Stopped || state == TrainerState::Cancelled ||
           state == TrainerState::Failed;
}

TrainingController::TrainingController(QObject* parent, int drainIntervalMs) : QObject(parent) {
    qRegisterMetaType<StepMetrics>();
    qRegisterMetaType<EvalResult>();
    qRegisterMetaType<MemorySample>();
    qRegisterMetaType<PagingEvent>();
    qRegisterMetaType<LogLine>();
    qRegisterMetaType<RunDevice>();
    qRegisterMetaType<TrainerState>();
    m_drainTimer.setInterval(drainIntervalMs);
    connect(&m_drainTimer, &QTimer::timeout, this, &TrainingController::drain);
}

// The Trainer's own destructor requests a stop and joins; the last checkpoint stays.
TrainingController::~TrainingController() = default;

bool TrainingController::start(const TrainConfig& config) {
    if (m_trainer) {
        emit errorOccurred(tr("A run is already active: stop it first."));
        return false;
    }
    try {
        return launch(std::make_unique<Trainer>(config));
    } catch (const std::exception& e) {
        emit errorOccurred(QString::fromStdString(e.what()));
        return false;
    }
}

bool TrainingController::resume(const QString& runDir) {
    if (m_trainer) {
        emit errorOccurred(tr("A run is already active: stop it first."));
        return false;
    }
    try {
        TrainConfig c;
        c.run_dir = runDir.toStdString();
        return launch(std::make_unique<Trainer>(std::move(c), true));
    } catch (const std::exception& e) {
        emit errorOccurred(tr("Cannot resume %1: %2").arg(runDir, QString::fromStdString(e.what())));
        return false;
    }
}

bool TrainingController::launch(std::unique_ptr<Trainer> trainer) {
    trainer->start();
    m_trainer = std::move(trainer);
    m_config = m_trainer->config();
    m_runDir = QString::fromStdString(m_config.run_dir.string());
    m_state = TrainerState::Loading;
    m_drainTimer.start();
    emit started(m_runDir);
    return true;
}

void TrainingController::pause() {
    if (m_trainer) m_trainer->pause();
}

void TrainingController::resumeTraining() {
    if (m_trainer) m_trainer->resume();
}

void TrainingController::stop() {
    if (m_trainer) m_trainer->stop();
}

void TrainingController::saveNow() {
    if (m_trainer) m_trainer->save_now();
}

void TrainingController::cancel() {
    if (m_trainer) m_trainer->cancel();
}

void TrainingController::drain() {
    if (!m_trainer) return;
    m_batch.clear();
    m_trainer->events().drain(m_batch);
    bool ended = false;
    for (const TrainEvent& e : m_batch) {
        deliver(e);
        if (const auto* s = std::get_if<StateChange>(&e); s && isTerminal(s->state)) ended = true;
    }
    if (ended) end();
}

void TrainingController::deliver(const TrainEvent& event) {
    std::visit(
        [this](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, StepMetrics>) emit stepFinished(v);
            else if constexpr (std::is_same_v<T, EvalResult>) emit evalFinished(v);
            else if constexpr (std::is_same_v<T, MemorySample>) emit memorySampled(v);
            else if constexpr (std::is_same_v<T, PagingEvent>) emit pagingEvent(v);
            else if constexpr (std::is_same_v<T, LogLine>) emit logLine(v);
            else if constexpr (std::is_same_v<T, RunDevice>) emit deviceChosen(v);
            else if constexpr (std::is_same_v<T, ErrorInfo>) emit errorOccurred(describeError(v));
            else if constexpr (std::is_same_v<T, LoadProgress>)
                emit loadProgressed(v.layers_done, v.layers);
            else {
                m_state = v.state;
                emit stateChanged(v.state, QString::fromStdString(v.message));
            }
        },
        event);
}

// Every terminal state is the thread's last report, so the join returns at once.
void TrainingController::end() {
    m_drainTimer.stop();
    m_trainer->wait();
    m_batch.clear();
    m_trainer->events().drain(m_batch);
    for (const TrainEvent& e : m_batch) deliver(e);
    m_trainer.reset();
    emit finished(m_state);
}

}  // namespace qls::ui
