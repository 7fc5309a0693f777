#include "core/train/run_comparison.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <numeric>
#include <set>

#include "core/backend/memory_accountant.h"
#include "core/train/run_folder.h"
#include "core/train/run_logs.h"
#include "core/util/error.h"

namespace qls {

namespace fs = std::filesystem;

namespace {

// Keys that differ between any two runs without saying anything about how they trained:
//   resumes        the steps a run was continued at (the settings in force are in config)
//   device.reason  prose on why the backend was chosen ("asked for", "auto: no CUDA device")
// run.json holds no output path or timestamp; the run folder's name is the column's title.
bool ignored(const std::string& key) {
    return key == "resumes" || key.starts_with("resumes.") || key == "device.reason";
}

void flatten(const nlohmann::json& j, const std::string& prefix, std::vector<std::pair<std::string, nlohmann::json>>& out) {
    if (!j.is_object()) {
        out.emplace_back(prefix, j);
        return;
    }
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
}

double median(std::vector<double> v) {
    const std::size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(mid), v.end());
    if (v.size() % 2 == 1) return v[mid];
    const double upper = v[mid];
    return (*std::max_element(v.begin(), v.begin() + std::ptrdiff_t(mid)) + upper) / 2;
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string clock_text(double seconds) {
    const auto t = static_cast<std::int64_t>(std::max(0.0, seconds));
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(t / 3600),
                  static_cast<long long>(t / 60 % 60), static_cast<long long>(t % 60));
    return buf;
}

std::string setting_text(const std::optional<nlohmann::json>& v) {
    if (!v) return "—";
    return v->is_string() ? v->get<std::string>() : v->dump();
}

// The runs whose value is the smallest (or largest): ComparisonRow::best.
template <typename Get>
std::vector<std::size_t> best_of(const std::vector<RunSummary>& runs, Get get, bool lower_is_better) {
    std::vector<std::size_t> best, present;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const auto v = get(runs[i]);
        if (!v) continue;
        present.push_back(i);
        const auto b = best.empty() ? std::nullopt : get(runs[best.front()]);
        if (b && *v == *b) best.push_back(i);
        else if (!b || (lower_is_better ? *v < *b : *v > *b)) best = {i};
    }
    return present.size() >= 2 && best.size() < present.size() ? best : std::vector<std::size_t>{};
}

}  // namespace

RunSummary summarize_run(const fs::path& dir) {
    RunFolder::read_run_json(dir);  // ConfigError naming the folder when it is no run
    RunSummary r;
    r.dir = dir;
    r.name = fs::absolute(dir).lexically_normal().filename().string();
    if (r.name.empty()) r.name = fs::absolute(dir).lexically_normal().parent_path().filename().string();  // "run/"
    std::vector<double> losses, throughput;
    for_each_json_line(dir / "metrics.jsonl", [&](const nlohmann::json& j) {
        const std::string type = j.value("type", "");
        if (type == "step") {
            const StepMetrics s = step_metrics_from_json(j);
            r.steps_done = s.step;
            r.steps_planned = s.total_steps;
            r.train_time_s = s.elapsed_s;
            losses.push_back(s.loss);
            throughput.push_back(s.tokens_per_s);
        } else if (type == "eval") {
            const EvalResult e = eval_result_from_json(j);
            if (!r.best_valid_loss || e.loss < *r.best_valid_loss) {
                r.best_valid_loss = e.loss;
                r.best_valid_step = e.step;
            }
            r.final_valid_loss = e.loss;
            r.final_valid_step = e.step;
        }
    });
    if (!losses.empty()) {
        const auto n = std::min<std::size_t>(losses.size(), kFinalLossSteps);
        r.final_train_loss = std::accumulate(losses.end() - std::ptrdiff_t(n), losses.end(), 0.0) / double(n);
        r.final_train_loss_steps = std::int64_t(n);
        r.median_tokens_per_s = median(throughput);
    }
    for_each_json_line(dir / "events.jsonl", [&](const nlohmann::json& j) {
        if (j.value("type", "") != "memory") return;
        const std::int64_t peak = memory_sample_from_json(j).memory.device_peak;
        if (peak > 0 && (!r.peak_device_bytes || peak > *r.peak_device_bytes)) r.peak_device_bytes = peak;
    });
    return r;
}

std::vector<std::pair<std::string, nlohmann::json>> flatten_settings(const nlohmann::json& run_json) {
    std::vector<std::pair<std::string, nlohmann::json>> out;
    for (const auto& [k, v] : run_json.items()) flatten(v, k == "config" ? "" : k, out);
    return out;
}

RunComparison compare_runs(const std::vector<fs::path>& dirs) {
    RunComparison c;
    std::vector<std::map<std::string, nlohmann::json>> settings;
    std::set<std::string> keys;
    for (const fs::path& dir : dirs) {
        c.runs.push_back(summarize_run(dir));
        auto& s = settings.emplace_back();
        for (auto& [k, v] : flatten_settings(RunFolder::read_run_json(dir))) {
            if (ignored(k)) continue;
            keys.insert(k);
            s.emplace(k, std::move(v));
        }
    }
    for (const std::string& key : keys) {
        SettingDifference d{key, {}};
        for (const auto& s : settings) {
            const auto it = s.find(key);
            d.values.push_back(it == s.end() ? std::nullopt : std::optional<nlohmann::json>(it->second));
        }
        if (std::adjacent_find(d.values.begin(), d.values.end(), std::not_equal_to<>()) != d.values.end())
            c.differences.push_back(std::move(d));
    }
    return c;
}

std::vector<ComparisonRow> comparison_rows(const RunComparison& c) {
    const auto& runs = c.runs;
    std::vector<ComparisonRow> rows;
    auto add = [&](std::string label, auto text, std::vector<std::size_t> best = {}) {
        ComparisonRow row{std::move(label), {}, std::move(best), false};
        for (const RunSummary& r : runs) row.cells.push_back(text(r));
        rows.push_back(std::move(row));
    };
    add("steps done / planned", [](const RunSummary& r) {
        return r.steps_planned > 0 ? str_cat(r.steps_done, " / ", r.steps_planned) : std::string("—");
    });
    add(str_cat("train loss (last ", kFinalLossSteps, " steps)"),
        [](const RunSummary& r) { return r.final_train_loss ? fixed(*r.final_train_loss, 4) : "—"; },
        best_of(runs, [](const RunSummary& r) { return r.final_train_loss; }, true));
    add("best valid loss (step)",
        [](const RunSummary& r) {
            return r.best_valid_loss ? str_cat(fixed(*r.best_valid_loss, 4), " (", r.best_valid_step, ")") : "—";
        },
        best_of(runs, [](const RunSummary& r) { return r.best_valid_loss; }, true));
    add("final valid loss (step)",
        [](const RunSummary& r) {
            return r.final_valid_loss ? str_cat(fixed(*r.final_valid_loss, 4), " (", r.final_valid_step, ")") : "—";
        },
        best_of(runs, [](const RunSummary& r) { return r.final_valid_loss; }, true));
    add("median tokens/s",
        [](const RunSummary& r) { return r.median_tokens_per_s ? fixed(*r.median_tokens_per_s, 0) : "—"; },
        best_of(runs, [](const RunSummary& r) { return r.median_tokens_per_s; }, false));
    add("peak device memory",
        [](const RunSummary& r) { return r.peak_device_bytes ? format_bytes(*r.peak_device_bytes) : "—"; },
        best_of(runs, [](const RunSummary& r) { return r.peak_device_bytes; }, true));
    add("train time", [](const RunSummary& r) { return r.steps_done > 0 ? clock_text(r.train_time_s) : "—"; });
    for (const SettingDifference& d : c.differences) {
        ComparisonRow row{d.key, {}, {}, true};
        for (const auto& v : d.values) row.cells.push_back(setting_text(v));
        rows.push_back(std::move(row));
    }
    return rows;
}

nlohmann::json to_json(const RunComparison& c) {
    auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
    nlohmann::json runs = nlohmann::json::array();
    for (const RunSummary& r : c.runs)
        runs.push_back({{"dir", r.dir.string()},
                        {"name", r.name},
                        {"steps_done", r.steps_done},
                        {"steps_planned", r.steps_planned},
                        {"final_train_loss", opt(r.final_train_loss)},
                        {"final_train_loss_steps", r.final_train_loss_steps},
                        {"best_valid_loss", opt(r.best_valid_loss)},
                        {"best_valid_step", r.best_valid_loss ? nlohmann::json(r.best_valid_step) : nullptr},
                        {"final_valid_loss", opt(r.final_valid_loss)},
                        {"final_valid_step", r.final_valid_loss ? nlohmann::json(r.final_valid_step) : nullptr},
                        {"median_tokens_per_s", opt(r.median_tokens_per_s)},
                        {"peak_device_bytes", opt(r.peak_device_bytes)},
                        {"train_time_s", r.train_time_s}});
    nlohmann::json differences = nlohmann::json::object();
    for (const SettingDifference& d : c.differences) {
        nlohmann::json values = nlohmann::json::array();
        for (const auto& v : d.values) values.push_back(opt(v));
        differences[d.key] = values;
    }
    return {{"runs", runs}, {"differences", differences}};
}

}  // namespace qls
