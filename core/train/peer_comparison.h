// Our training benchmark next to the peer's: ../shared/bench/peer_qlora.py (transformers +
// bitsandbytes + PEFT) writes peer_results.json, with "runs" (one per shape and method: median
// step, tokens/s, peak allocated and reserved GiB, load + quantize time, useful-FLOP
// utilisation), "ceilings" (a bf16 8192³ matmul, a 2 GiB device copy) and "env" (the GPU).
// Ratios are ours / peer's, so > 1 is better for tokens/s, GEMM rate and utilisation and worse
// for times and memory; the row says which.
#pragma once
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/train/train_bench.h"

namespace qls {

struct PeerRun {
    std::string model, method;  // "llama-7b", "qlora" | "lora-bf16"
    double median_step_s = 0;
    double tokens_per_s = 0;
    double peak_allocated_gib = 0;                   // torch.cuda.max_memory_allocated during the steps
    double peak_reserved_gib = 0;                    // ... max_memory_reserved: the caching allocator's pools
    std::optional<double> load_quantize_s;           // qlora runs
    std::optional<double> useful_flops_utilisation;  // when the GEMM ceiling was measured
};

struct PeerResults {
    std::string source;                 // the file, for messages
    std::string gpu;                    // env.gpu, "" when the peer could not read it
    std::optional<double> gemm_tflops;  // ceilings.bf16_matmul_8192.tflops_median
    std::optional<double> copy_gbps;    // ceilings.d2d_copy_2GiB.gbps_median
    std::vector<PeerRun> runs;
};

// FormatError naming `source` and the field for anything that is not peer_qlora.py's structure.
PeerResults parse_peer_results(const nlohmann::json& j, std::string_view source);
PeerResults read_peer_results(const std::filesystem::path& path);

// The run of `shape` and `method`; ConfigError listing the runs the file has otherwise.
const PeerRun& find_peer_run(const PeerResults& peer, std::string_view shape, std::string_view method);

struct ComparisonRow {
    std::string what;  // "tokens/s"
    double ours = 0, peer = 0;
    bool higher_is_better = true;
    double ratio() const { return ours / peer; }
};

// tokens/s, step time, peak memory (our accountant's peak against torch's allocated peak, and
// the device's bytes in use against torch's reserved pools, which leave out the CUDA context
// and paged state that ours includes), load + quantize, utilisation and the GEMM rate (ours in
// the run's compute dtype at the MLP's shape; the peer's a bf16 8192³ matmul). A row the peer
// or our backend has no figure for is left out.
std::vector<ComparisonRow> compare_with_peer(const TrainBenchReport& ours, const PeerResults& peer,
                                             const PeerRun& run);

}  // namespace qls
