#include "core/train/train_bench_json.h"

#include <string>

#include "core/util/compute_dtype.h"

namespace qls {

nlohmann::json train_bench_json(const TrainBenchReport& r) {
    const TrainBenchOptions& o = r.options;
    nlohmann::json j;
    j["shape"] = o.shape;
    j["backend"] = r.backend;
    j["compute_dtype"] = compute_dtype_name(o.compute);
    j["micro_batch"] = o.micro_batch;
    j["seq_len"] = o.seq_len;
    j["tokens_per_step"] = r.tokens_per_step;
    j["steps"] = o.steps;
    j["warmup"] = o.warmup;
    j["step_s"] = r.step_s;
    j["median_step_s"] = r.median_step_s;
    j["tokens_per_s"] = r.tokens_per_s;
    j["first_loss"] = r.first_loss;
    j["checkpoint_bytes"] = r.checkpoint_bytes;
    j["write_checkpoint_s"] = r.write_checkpoint_s;
    j["load_and_quantize_s"] = r.load_and_quantize_s;
    j["peak_bytes"] = r.memory.device_peak;
    j["estimated_bytes"] = r.estimate.device_total;
    j["device_in_use_peak_bytes"] =
        r.device_in_use_peak ? nlohmann::json(*r.device_in_use_peak) : nlohmann::json();
    for (Usage u : kAllUsages) {
        j["peak_by_category"][std::string(usage_name(u))] = r.memory.peak_of(u);
        j["estimate_by_category"][std::string(usage_name(u))] = r.estimate.of(u);
    }
    j["gemm"] = {{"rows", r.gemm.rows},
                 {"in", r.gemm.in},
                 {"out", r.gemm.out},
                 {"dtype", compute_dtype_name(r.gemm.dtype)},
                 {"median_s", r.gemm.median_s},
                 {"best_s", r.gemm.best_s},
                 {"flops_per_s", r.gemm.flops_per_s}};
    j["flops"] = {{"linear_params", r.flops.linear_params},
                  {"layer_linear_params", r.flops.layer_linear_params},
                  {"attention_forward", r.flops.attention_forward},
                  {"useful", r.flops.useful},
                  {"hardware", r.flops.hardware}};
    j["useful_flops_utilisation"] = r.useful_utilisation;
    j["hardware_flops_utilisation"] = r.hardware_utilisation;
    return j;
}

nlohmann::json peer_comparison_json(const PeerResults& peer, const PeerRun& run,
                                    const std::vector<ComparisonRow>& rows) {
    nlohmann::json j;
    j["file"] = peer.source;
    j["gpu"] = peer.gpu;
    j["model"] = run.model;
    j["method"] = run.method;
    j["rows"] = nlohmann::json::array();
    for (const ComparisonRow& row : rows)
        j["rows"].push_back({{"what", row.what},
                             {"ours", row.ours},
                             {"peer", row.peer},
                             {"ratio", row.ratio()},
                             {"higher_is_better", row.higher_is_better}});
    const auto optional = [](const std::optional<double>& v) {
        return v ? nlohmann::json(*v) : nlohmann::json();
    };
    j["ceilings"] = {{"bf16_gemm_tflops", optional(peer.gemm_tflops)},
                     {"copy_gbps", optional(peer.copy_gbps)}};
    return j;
}

}  // namespace qls
