#include "core/train/peer_comparison.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace qls {

namespace {

using Json = nlohmann::json;

double number(const Json& o, const char* key, std::string_view where) {
    const auto it = o.find(key);
    QLS_CHECK(FormatError, it != o.end() && it->is_number(), where, ": field '", key, "' ",
              it == o.end() ? "is missing" : "is not a number",
              " (expected peer_qlora.py's peer_results.json)");
    return it->get<double>();
}

std::optional<double> optional_number(const Json& o, const char* key) {
    const auto it = o.find(key);
    return it != o.end() && it->is_number() ? std::optional<double>(it->get<double>()) : std::nullopt;
}

std::optional<double> ceiling(const Json& j, const char* name, const char* key) {
    const auto c = j.find("ceilings");
    if (c == j.end() || !c->is_object()) return std::nullopt;
    const auto e = c->find(name);
    return e != c->end() && e->is_object() ? optional_number(*e, key) : std::nullopt;
}

PeerRun parse_run(const Json& r, const std::string& where) {
    QLS_CHECK(FormatError,
              r.is_object() && r.contains("model") && r["model"].is_string() && r.contains("method") &&
                  r["method"].is_string(),
              where, ": expected an object with string fields 'model' and 'method'");
    PeerRun run;
    run.model = r["model"].get<std::string>();
    run.method = r["method"].get<std::string>();
    const std::string at = where + " (" + run.model + "/" + run.method + ")";
    run.median_step_s = number(r, "median_step_s", at);
    run.tokens_per_s = number(r, "tokens_per_s", at);
    run.peak_allocated_gib = number(r, "train_peak_allocated_gib", at);
    run.peak_reserved_gib = number(r, "train_peak_reserved_gib", at);
    QLS_CHECK(FormatError, run.median_step_s > 0 && run.tokens_per_s > 0 && run.peak_allocated_gib > 0, at,
              ": step time, tokens/s and peak memory must be positive");
    run.load_quantize_s = optional_number(r, "load_quantize_s");
    run.useful_flops_utilisation = optional_number(r, "useful_flops_utilisation");
    return run;
}

}  // namespace

PeerResults parse_peer_results(const Json& j, std::string_view source) {
    QLS_CHECK(FormatError, j.is_object() && j.contains("runs") && j["runs"].is_array(), source,
              ": expected an object with a 'runs' array (peer_qlora.py's peer_results.json)");
    PeerResults p;
    p.source = std::string(source);
    if (const auto env = j.find("env");
        env != j.end() && env->is_object() && env->contains("gpu") && (*env)["gpu"].is_string())
        p.gpu = (*env)["gpu"].get<std::string>();
    p.gemm_tflops = ceiling(j, "bf16_matmul_8192", "tflops_median");
    p.copy_gbps = ceiling(j, "d2d_copy_2GiB", "gbps_median");
    const Json& runs = j["runs"];
    for (std::size_t i = 0; i < runs.size(); ++i)
        p.runs.push_back(parse_run(runs[i], str_cat(source, ": runs[", i, "]")));
    return p;
}

PeerResults read_peer_results(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    QLS_CHECK(IoError, in.is_open(), "cannot open '", path.string(), "'");
    Json j;
    try {
        j = Json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(str_cat(path.string(), ": not valid JSON: ", e.what()));
    }
    return parse_peer_results(j, path.string());
}

const PeerRun& find_peer_run(const PeerResults& peer, std::string_view shape, std::string_view method) {
    std::string have;
    for (const PeerRun& r : peer.runs) {
        if (r.model == shape && r.method == method) return r;
        have += str_cat(have.empty() ? "" : ", ", r.model, "/", r.method);
    }
    throw ConfigError(str_cat(peer.source, ": no ", method, " run of ", shape, "; it has ",
                              have.empty() ? "no runs (see its 'errors')" : have));
}

std::vector<ComparisonRow> compare_with_peer(const TrainBenchReport& ours, const PeerResults& peer,
                                             const PeerRun& run) {
    constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
    std::vector<ComparisonRow> rows = {
        {"tokens/s", ours.tokens_per_s, run.tokens_per_s, true},
        {"step (s, median)", ours.median_step_s, run.median_step_s, false},
        {"peak allocated (GiB)", static_cast<double>(ours.memory.device_peak) / kGiB, run.peak_allocated_gib,
         false},
    };
    if (ours.device_in_use_peak && run.peak_reserved_gib > 0)
        rows.push_back({"device in use / reserved (GiB)",
                        static_cast<double>(*ours.device_in_use_peak) / kGiB, run.peak_reserved_gib, false});
    if (run.load_quantize_s && *run.load_quantize_s > 0)
        rows.push_back({"load + quantize (s)", ours.load_and_quantize_s, *run.load_quantize_s, false});
    if (run.useful_flops_utilisation && *run.useful_flops_utilisation > 0)
        rows.push_back(
            {"useful-FLOP utilisation", ours.useful_utilisation, *run.useful_flops_utilisation, true});
    if (peer.gemm_tflops && *peer.gemm_tflops > 0)
        rows.push_back({"dense GEMM (TFLOP/s)", ours.gemm.flops_per_s / 1e12, *peer.gemm_tflops, true});
    return rows;
}

}  // namespace qls
