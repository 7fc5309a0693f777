// The trainer: a run on its own thread (STYLE.md §5), controlled from any thread, reporting
// through an EventChannel that the UI or the CLI drains. A run is a folder (run_folder.h);
// checkpoints make it resumable with exactly the losses an uninterrupted run would have had.
#pragma once
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/train/event_channel.h"
#include "core/train/train_config.h"

namespace qls {

class Trainer {
public:
    // Changes a resumed run makes to its stored config (train_config.h resume_changes says which
    // are allowed); empty: none.
    using ResumeEdit = std::function<void(TrainConfig&)>;

    // A new run in config.run_dir, or (resume = true) the run in config.run_dir continued from
    // its latest checkpoint with the config stored in its run.json, changed by `edit`: the
    // changes are recorded in run.json and the event log. A new run stores its model and data
    // paths absolute, so it resumes and exports from any working folder.
    explicit Trainer(TrainConfig config, bool resume = false, const ResumeEdit& edit = {});
    static TrainConfig config_of_run(const std::filesystem::path& run_dir);
    ~Trainer();  // cancels and joins; never throws
    Trainer(const Trainer&) = delete;
    Trainer& operator=(const Trainer&) = delete;

    void start();
    void pause();
    void resume();
    void stop();      // finish the current step, save a checkpoint, export the adapter, exit
    void cancel();    // exit after the current step without saving (the last checkpoint stays)
    void save_now();  // save a checkpoint after the current step and go on
    void wait();      // until the thread ends

    EventChannel& events() { return m_events; }
    TrainerState state() const { return m_state.load(); }
    bool running() const;
    const TrainConfig& config() const { return m_config; }

private:
    friend class TrainingSession;
    void run(std::stop_token token);
    void set_state(TrainerState s, std::string message = {});
    // Blocks while paused; false when the run must end (stop, cancel). A save request while
    // paused calls `save` at once, on this thread, and keeps waiting.
    bool wait_if_paused(std::stop_token token, const std::function<void()>& save);

    TrainConfig m_config;
    bool m_resume = false;
    nlohmann::json m_resume_changes = nlohmann::json::object();
    EventChannel m_events;
    std::atomic<TrainerState> m_state{TrainerState::Idle};
    std::atomic<bool> m_pause{false}, m_stop{false}, m_save{false};
    std::mutex m_mutex;
    std::condition_variable_any m_cv;
    std::jthread m_thread;
};

}  // namespace qls
