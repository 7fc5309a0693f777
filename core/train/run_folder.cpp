#include "core/train/run_folder.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "core/util/atomic_file.h"
#include "core/util/mapped_file.h"

namespace qls {

namespace {

std::uint64_t fnv1a(std::span<const std::byte> bytes, std::uint64_t h = 1469598103934665603ull) {
    for (std::byte b : bytes) h = (h ^ static_cast<std::uint8_t>(b)) * 1099511628211ull;
    return h;
}

std::string hex(std::uint64_t v) {
    std::ostringstream os;
    os << std::hex << v;
    return os.str();
}

}  // namespace

nlohmann::json fingerprint(const std::filesystem::path& path) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(path)) {
        for (const auto& e : std::filesystem::directory_iterator(path))
            if (e.is_regular_file()) files.push_back(e.path());
        std::sort(files.begin(), files.end());
    } else {
        files.push_back(path);
    }
    std::uint64_t h = 1469598103934665603ull, size = 0;
    for (const auto& f : files) {
        const MappedFile m(f);
        h = fnv1a(m.bytes(), h);
        size += m.bytes().size();
    }
    return {{"name", path.filename().string()}, {"bytes", size}, {"fnv1a", hex(h)}};
}

RunFolder::RunFolder(std::filesystem::path dir, std::chrono::milliseconds retry_for)
    : m_dir(std::move(dir)), m_retry_for(retry_for) {}

void RunFolder::create(const TrainConfig& config, const RunDevice& device, const nlohmann::json& model_fp,
                       const nlohmann::json& data_fp) {
    QLS_CHECK(ConfigError, !std::filesystem::exists(m_dir / "run.json"), "run folder '", m_dir.string(),
              "' already holds a run: resume it or choose another folder");
    std::filesystem::create_directories(m_dir / "checkpoints");
    const nlohmann::json run = {{"format", "qlora-studio run 1"},
                                {"config", to_json(config)},
                                {"device", event_to_json(device)},
                                {"model_fingerprint", model_fp},
                                {"dataset_fingerprint", data_fp}};
    write_file_atomic(m_dir / "run.json", run.dump(2));
    write_file_atomic(m_dir / "metrics.jsonl", "");
    write_file_atomic(m_dir / "events.jsonl", "");
    open_logs();
}

nlohmann::json RunFolder::read_run_json(const std::filesystem::path& dir) {
    std::ifstream in(dir / "run.json");
    QLS_CHECK(ConfigError, in.good(), "'", dir.string(), "' is not a run folder (no run.json)");
    try {
        nlohmann::json j;
        in >> j;
        return j;
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(str_cat((dir / "run.json").string(), ": ", e.what()));
    }
}

void RunFolder::reopen(std::int64_t step) {
    std::vector<std::string> kept;
    {
        std::ifstream in(m_dir / "metrics.jsonl");
        for (std::string line; std::getline(in, line);) {
            if (line.empty()) continue;
            const auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_discarded() || j.value("step", std::int64_t{0}) > step) continue;
            kept.push_back(line);
        }
    }
    std::string text;
    for (const auto& l : kept) text += l + "\n";
    write_file_atomic(m_dir / "metrics.jsonl", text);
    open_logs();
}

void RunFolder::record_resume(const TrainConfig& config, std::int64_t step, const nlohmann::json& changes) {
    nlohmann::json run = read_run_json(m_dir);
    run["config"] = to_json(config);
    if (!run.contains("resumes") || !run["resumes"].is_array()) run["resumes"] = nlohmann::json::array();
    run["resumes"].push_back({{"step", step}, {"changes", changes}});
    write_file_atomic(m_dir / "run.json", run.dump(2));
}

void RunFolder::open_logs() {
    m_metrics = AppendLog(m_dir / "metrics.jsonl", m_retry_for);
    m_events = AppendLog(m_dir / "events.jsonl", m_retry_for);
    for (const std::string& line : m_pending_events) m_events.append(line);
    m_pending_events.clear();
}

void RunFolder::append_metrics(const nlohmann::json& line) { m_metrics.append(line.dump()); }

void RunFolder::append_event(const TrainEvent& e) {
    if (m_events.is_open()) m_events.append(event_to_json(e).dump());
    else m_pending_events.push_back(event_to_json(e).dump());
}

nlohmann::json event_to_json(const TrainEvent& e) {
    return std::visit(
        [](const auto& v) -> nlohmann::json {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, StepMetrics>)
                return {{"type", "step"}, {"step", v.step}, {"total_steps", v.total_steps}, {"epoch", v.epoch},
                        {"loss", v.loss}, {"lr", v.lr},
                        {"grad_norm", v.grad_norm}, {"tokens", v.tokens}, {"trained_tokens", v.trained_tokens},
                        {"tokens_per_s", v.tokens_per_s}, {"elapsed_s", v.elapsed_s},
                        {"host_syncs", v.host_syncs}, {"loss_scale", v.loss_scale}, {"skipped", v.skipped}};
            else if constexpr (std::is_same_v<T, EvalResult>)
                return {{"type", "eval"}, {"step", v.step}, {"loss", v.loss}, {"perplexity", v.perplexity},
                        {"tokens", v.tokens}, {"best", v.best}};
            else if constexpr (std::is_same_v<T, MemorySample>)
            {
                nlohmann::json bytes;
                for (Usage u : kAllUsages) bytes[std::string(usage_name(u))] = v.memory.current_of(u);
                return {{"type", "memory"},
                        {"time_s", v.time_s},
                        {"step", v.step},
                        {"bytes", bytes},
                        {"device_current", v.memory.device_current},
                        {"device_peak", v.memory.device_peak},
                        {"device_limit", v.device_limit},
                        {"device_in_use", v.device_in_use}};
            }
            else if constexpr (std::is_same_v<T, PagingEvent>)
                return {{"type", "paging"}, {"time_s", v.time_s}, {"step", v.step},
                        {"direction", v.direction == PagingEvent::Direction::ToDevice ? "to_device" : "to_host"},
                        {"bytes", v.bytes}, {"pages", v.pages}, {"reason", v.reason}, {"layer", v.layer}};
            else if constexpr (std::is_same_v<T, LogLine>)
                return {{"type", "log"}, {"level", static_cast<int>(v.level)}, {"text", v.text}};
            else if constexpr (std::is_same_v<T, StateChange>)
                return {{"type", "state"}, {"state", trainer_state_name(v.state)}, {"message", v.message}};
            else if constexpr (std::is_same_v<T, RunDevice>)
                return {{"type", "device"}, {"backend", v.backend}, {"device", v.device},
                        {"compute_dtype", v.compute_dtype}, {"threads", v.threads}, {"reason", v.reason}};
            else if constexpr (std::is_same_v<T, LoadProgress>)
                return {{"type", "load"}, {"layers_done", v.layers_done}, {"layers", v.layers}};
            else
                return {{"type", "error"}, {"what", v.what}, {"advice", v.advice}, {"resumable", v.resumable}};
        },
        e);
}

}  // namespace qls
