// Reading a run folder's JSON Lines logs back (metrics.jsonl, events.jsonl; written by
// run_folder.h's event_to_json): the one reader the Train page, the run comparison and the CLI
// share, so every one of them reads a line the same way.
#pragma once
#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/train/train_events.h"

namespace qls {

// Calls fn(line) for every non-empty line of a JSON Lines file. A missing file reads as empty
// (a run that never started writing). A last line without its newline that does not parse is a
// write still under way (a run in progress) or cut short by a crash, and is skipped; any other
// line that is no JSON object, or that fn rejects with a json exception (a field missing or of
// the wrong type), throws FormatError naming file:line.
void for_each_json_line(const std::filesystem::path& path, const std::function<void(const nlohmann::json&)>& fn);

// The lines event_to_json writes, back as values. Fields added to the format later read as
// their defaults, so older runs still open; "step" and "loss" are required.
StepMetrics step_metrics_from_json(const nlohmann::json& j);
EvalResult eval_result_from_json(const nlohmann::json& j);
MemorySample memory_sample_from_json(const nlohmann::json& j);

}  // namespace qls
