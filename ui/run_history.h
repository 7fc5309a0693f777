// What the Train page charts for one run: step metrics, evaluations, memory samples and paging
// events as plain values, filled live from the controller or read back from a run folder
// (metrics.jsonl, events.jsonl; formats in core/train/run_folder.h), and written out as CSV.
#pragma once
#include <QString>
#include <QStringList>

#include <vector>

#include "core/train/train_events.h"

namespace qls::ui {

struct RunHistory {
    QString dir;
    QString name;  // the folder's name, for legends
    std::vector<StepMetrics> steps;
    std::vector<EvalResult> evals;
    std::vector<MemorySample> memory;
    std::vector<PagingEvent> paging;
    QStringList log;                   // log lines, state changes and errors as the log panel shows them
    TrainerState lastState = TrainerState::Idle;
    std::string backend;  // "cpu" or "cuda", from its device event; empty when none was recorded
    bool hasCheckpoint = false;

    bool empty() const { return steps.empty() && evals.empty(); }
};

// Reads a run folder; throws qls::Error (ConfigError when it is no run folder, FormatError
// naming file:line for a malformed line).
RunHistory readRunHistory(const QString& dir);

// One line per step (step, epoch, loss, lr, grad_norm, tokens, trained_tokens, tokens_per_s,
// elapsed_s) with the validation loss where one was measured; written through QSaveFile.
// Returns the error text, empty on success.
QString writeMetricsCsv(const RunHistory& run, const QString& path);

// "[state] message" / "warning: text" lines as the log panel shows them.
QString logText(const LogLine& line);
QString stateLogText(TrainerState state, const QString& message);

}  // namespace qls::ui
