#include "core/train/trainer.h"

#include <optional>

#include "core/train/run_folder.h"
#include "core/train/training_session.h"

namespace qls {

namespace {

std::filesystem::path absolute_path(const std::filesystem::path& p) {
    return p.empty() ? p : std::filesystem::absolute(p).lexically_normal();
}

}  // namespace

Trainer::Trainer(TrainConfig config, bool resume, const ResumeEdit& edit)
    : m_config(std::move(config)), m_resume(resume) {
    if (m_resume) {
        const std::filesystem::path dir = m_config.run_dir;
        const TrainConfig stored = config_of_run(dir);
        m_config = stored;
        if (edit) {
            edit(m_config);
            if (m_config.model != stored.model) m_config.model = absolute_path(m_config.model);
            m_resume_changes = resume_changes(stored, m_config);
        }
        m_config.run_dir = dir;
    } else {
        m_config.model = absolute_path(m_config.model);
        m_config.data.path = absolute_path(m_config.data.path);
        m_config.data.valid_path = absolute_path(m_config.data.valid_path);
    }
    m_config.validate();
}

TrainConfig Trainer::config_of_run(const std::filesystem::path& run_dir) {
    const nlohmann::json run = RunFolder::read_run_json(run_dir);
    QLS_CHECK(FormatError, run.contains("config"), (run_dir / "run.json").string(), ": no \"config\"");
    TrainConfig c = train_config_from_json(run.at("config"));
    c.run_dir = run_dir;
    return c;
}

Trainer::~Trainer() {
    if (m_thread.joinable()) {
        m_thread.request_stop();
        m_cv.notify_all();
        m_thread.join();
    }
}

void Trainer::start() {
    QLS_CHECK(ConfigError, !m_thread.joinable(), "the trainer was already started");
    m_thread = std::jthread([this](std::stop_token token) { run(token); });
}

void Trainer::pause() { m_pause = true; }

// The flags a paused trainer waits on change under the mutex, so that no wake-up falls between
// its check and its sleep.
void Trainer::resume() {
    {
        std::lock_guard lock(m_mutex);
        m_pause = false;
    }
    m_cv.notify_all();
}

void Trainer::stop() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_cv.notify_all();
}

void Trainer::cancel() {
    m_thread.request_stop();
    m_cv.notify_all();
}

void Trainer::save_now() {
    {
        std::lock_guard lock(m_mutex);
        m_save = true;
    }
    m_cv.notify_all();
}

void Trainer::wait() {
    if (m_thread.joinable()) m_thread.join();
}

bool Trainer::running() const {
    const TrainerState s = m_state.load();
    return s != TrainerState::Idle && s != TrainerState::Finished && s != TrainerState::Stopped &&
           s != TrainerState::Cancelled && s != TrainerState::Failed;
}

void Trainer::set_state(TrainerState s, std::string message) {
    m_state = s;
    m_events.push(StateChange{s, std::move(message)});
}

bool Trainer::wait_if_paused(std::stop_token token, const std::function<void()>& save) {
    if (!m_pause) return !token.stop_requested() && !m_stop;
    set_state(TrainerState::Paused);
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_cv.wait(lock, token, [&] { return !m_pause || m_stop.load() || m_save.load(); });
        if (token.stop_requested() || m_stop || !m_pause) break;
        m_save = false;
        lock.unlock();
        save();
        lock.lock();
    }
    lock.unlock();
    if (token.stop_requested() || m_stop) return false;
    set_state(TrainerState::Training);
    return true;
}

void Trainer::run(std::stop_token token) {
    std::optional<TrainingSession> session;
    const auto fail = [&](ErrorInfo error) {
        if (session) session->record_failure(error);
        m_events.push(error);
        set_state(TrainerState::Failed, error.what);
    };
    try {
        session.emplace(*this, token);
        session->run();
    } catch (const Cancelled&) {
        set_state(TrainerState::Cancelled, "cancelled while loading");
    } catch (const OutOfMemoryError& e) {
        fail(ErrorInfo{e.what(), "lower the micro-batch or the maximum sequence length, keep gradient checkpointing "
                                 "on, or lower the LoRA rank; then resume the run",
                       true});
    } catch (const std::exception& e) {
        fail(ErrorInfo{e.what(), {}, false});
    }
}

}  // namespace qls
