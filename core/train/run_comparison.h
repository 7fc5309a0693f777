// Runs side by side: what each run reached (losses, steps, throughput, memory, time) from its
// run folder's logs, and which settings of run.json differ between them. The Train page's
// comparison table and `qlora compare` show the same rows (comparison_rows).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qls {

// The final training loss is the mean of the last kFinalLossSteps logged steps (all of them
// when fewer): one step's loss is that of its own batch, and batches differ in difficulty by
// more than runs differ at the end, so a single last value ranks runs by their last batch.
// Ten steps smooth that while still describing the end of training.
inline constexpr std::int64_t kFinalLossSteps = 10;

struct RunSummary {
    std::filesystem::path dir;
    std::string name;  // the folder's name
    std::int64_t steps_done = 0;
    std::int64_t steps_planned = 0;  // from the last step line; 0 before the first step
    std::optional<double> final_train_loss;
    std::int64_t final_train_loss_steps = 0;  // how many steps final_train_loss is the mean of
    std::optional<double> best_valid_loss;
    std::int64_t best_valid_step = 0;  // the first evaluation that reached it
    std::optional<double> final_valid_loss;
    std::int64_t final_valid_step = 0;
    std::optional<double> median_tokens_per_s;    // over every logged step
    std::optional<std::int64_t> peak_device_bytes;  // from events.jsonl's memory samples
    double train_time_s = 0;  // elapsed_s of the last step: training time, over resumes too
};

// A run.json setting and its value in each run, in the order of the runs; absent where a run
// has no such key. Keys are dotted: the config's as ConfigProblem names them
// ("optim.learning_rate"), the rest of run.json under its own names ("device.backend").
struct SettingDifference {
    std::string key;
    std::vector<std::optional<nlohmann::json>> values;
};

struct RunComparison {
    std::vector<RunSummary> runs;
    std::vector<SettingDifference> differences;  // sorted by key
};

// Reads one run folder: ConfigError naming the folder when it has no run.json, FormatError
// naming file:line for a malformed log line (a torn last line is skipped: run_logs.h).
RunSummary summarize_run(const std::filesystem::path& dir);

// run.json as dotted keys (config's without "config.": "lora.r", "device.backend"); arrays are
// values of their own (target modules).
std::vector<std::pair<std::string, nlohmann::json>> flatten_settings(const nlohmann::json& run_json);

// Summaries of `dirs` in that order, and the settings whose values are not the same in all of them.
RunComparison compare_runs(const std::vector<std::filesystem::path>& dirs);

// One row of the comparison as text: a label, a cell per run, and the runs with the best value
// on rows where lower (losses, memory) or higher (throughput) is better: every run that has it,
// none when all runs have the same value or fewer than two runs have one.
struct ComparisonRow {
    std::string label;
    std::vector<std::string> cells;
    std::vector<std::size_t> best;
    bool setting = false;  // a differing run.json setting, after the metric rows
};
std::vector<ComparisonRow> comparison_rows(const RunComparison& comparison);

nlohmann::json to_json(const RunComparison& comparison);

}  // namespace qls
