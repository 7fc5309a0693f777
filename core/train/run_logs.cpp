#include "core/train/run_logs.h"

#include <fstream>
#include <string>

#include "core/util/error.h"

namespace qls {

void for_each_json_line(const std::filesystem::path& path, const std::function<void(const nlohmann::json&)>& fn) {
    std::ifstream in(path, std::ios::binary);
    std::size_t number = 0;
    for (std::string line; std::getline(in, line);) {
        ++number;
        if (line.empty()) continue;
        const bool ended = !in.eof();  // getline stopped at a newline, not at the end of the file
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() && !ended) break;
        QLS_CHECK(FormatError, j.is_object(), path.string(), ":", number, ": not a JSON object: '",
                  line.substr(0, 80), "'");
        try {
            fn(j);
        } catch (const nlohmann::json::exception& e) {
            throw FormatError(str_cat(path.string(), ":", number, ": ", e.what()));
        }
    }
}

StepMetrics step_metrics_from_json(const nlohmann::json& j) {
    StepMetrics s;
    s.step = j.at("step").get<std::int64_t>();
    s.total_steps = j.value("total_steps", s.step);  // runs written before it was recorded: unknown
    s.epoch = j.value("epoch", 0.0);
    s.loss = j.at("loss").get<double>();
    s.lr = j.value("lr", 0.0);
    s.grad_norm = j.value("grad_norm", 0.0);
    s.tokens = j.value("tokens", std::int64_t{0});
    s.trained_tokens = j.value("trained_tokens", std::int64_t{0});
    s.tokens_per_s = j.value("tokens_per_s", 0.0);
    s.elapsed_s = j.value("elapsed_s", 0.0);
    s.host_syncs = j.value("host_syncs", std::int64_t{0});
    s.loss_scale = j.value("loss_scale", 1.0);
    s.skipped = j.value("skipped", false);
    return s;
}

EvalResult eval_result_from_json(const nlohmann::json& j) {
    EvalResult r;
    r.step = j.at("step").get<std::int64_t>();
    r.loss = j.at("loss").get<double>();
    r.perplexity = j.value("perplexity", 0.0);
    r.tokens = j.value("tokens", std::int64_t{0});
    r.best = j.value("best", false);
    return r;
}

MemorySample memory_sample_from_json(const nlohmann::json& j) {
    MemorySample m;
    m.time_s = j.value("time_s", 0.0);
    m.step = j.value("step", std::int64_t{0});
    m.device_limit = j.value("device_limit", std::int64_t{0});
    m.device_in_use = j.value("device_in_use", std::int64_t{0});
    m.memory.device_current = j.value("device_current", std::int64_t{0});
    m.memory.device_peak = j.value("device_peak", std::int64_t{0});
    const nlohmann::json bytes = j.value("bytes", nlohmann::json::object());
    for (Usage u : kAllUsages)
        m.memory.current[static_cast<std::size_t>(u)] = bytes.value(std::string(usage_name(u)), std::int64_t{0});
    return m;
}

}  // namespace qls
