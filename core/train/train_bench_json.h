// What `qlora bench train --json` prints: the benchmark's report, and with --peer the comparison
// table, so a script reads the same figures the text table shows.
#pragma once
#include <nlohmann/json.hpp>
#include <vector>

#include "core/train/peer_comparison.h"
#include "core/train/train_bench.h"

namespace qls {

nlohmann::json train_bench_json(const TrainBenchReport& r);

// {"file", "gpu", "model", "method", "rows": [{"what", "ours", "peer", "ratio",
// "higher_is_better"}], "ceilings": {"bf16_gemm_tflops", "copy_gbps"}}
nlohmann::json peer_comparison_json(const PeerResults& peer, const PeerRun& run,
                                    const std::vector<ComparisonRow>& rows);

}  // namespace qls
