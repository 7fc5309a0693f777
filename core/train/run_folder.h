// A run's folder: run.json (the complete config plus model and dataset fingerprints),
// metrics.jsonl (a line per step and per evaluation), events.jsonl (state changes, paging,
// log lines, errors), checkpoints/step-N/ and the final adapter/.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/train/train_config.h"
#include "core/train/train_events.h"
#include "core/util/append_log.h"

namespace qls {

// Size and FNV-1a hash of a file's bytes (or of every file directly in a folder, by name):
// enough to notice a dataset or model that changed under a run.
nlohmann::json fingerprint(const std::filesystem::path& path);

class RunFolder {
public:
    // `retry_for`: how long a log append refused by the system (disk full) is retried.
    explicit RunFolder(std::filesystem::path dir, std::chrono::milliseconds retry_for = std::chrono::seconds(30));
    const std::filesystem::path& dir() const { return m_dir; }

    // A new run: refuses a folder that already holds a run.json (resume it instead).
    // run.json also records the device the run started on.
    void create(const TrainConfig& config, const RunDevice& device, const nlohmann::json& model_fp,
                const nlohmann::json& data_fp);
    static nlohmann::json read_run_json(const std::filesystem::path& dir);  // ConfigError when absent

    // Reopening for resume: drops metrics lines after `step` so the file reads as one run.
    void reopen(std::int64_t step);
    // A resume that changed settings (train_config.h resume_changes): run.json gets the new
    // config and a "resumes" entry {step, changes}, so the next resume continues with them.
    void record_resume(const TrainConfig& config, std::int64_t step, const nlohmann::json& changes);
    // Whole lines or an IoError once the retry window is over (append_log.h).
    void append_metrics(const nlohmann::json& line);
    void append_event(const TrainEvent& e);  // kept until the logs open (create, reopen)

private:
    void open_logs();
    std::filesystem::path m_dir;
    std::chrono::milliseconds m_retry_for;
    AppendLog m_metrics, m_events;
    std::vector<std::string> m_pending_events;  // events before the logs open (while loading)
};

nlohmann::json event_to_json(const TrainEvent& e);

}  // namespace qls
