// "What is the largest micro-batch (or sequence length) that fits?", answered by the memory
// estimate itself: the estimate grows with either, so a search over it finds the edge, and the
// answer can never disagree with the estimate shown beside it.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/model/model_layout.h"
#include "core/train/memory_estimate.h"

namespace qls {

enum class FitDimension : std::uint8_t { MicroBatch, SeqLen };

std::string_view fit_dimension_name(FitDimension d);  // "micro-batch", "seq-len"
std::optional<FitDimension> parse_fit_dimension(std::string_view name);

struct FitResult {
    FitDimension dimension = FitDimension::MicroBatch;
    std::int64_t value = 0;   // the largest value that fits; 0 when not even 1 does
    std::int64_t limit = 0;   // the largest value tried: the context length for seq-len
    MemoryEstimate estimate;  // at `value` (at 1 when nothing fits)

    bool at_limit() const { return value == limit; }  // larger values were not tried
};

// The largest value of `dimension` whose estimate fits options.device_bytes, every other
// option held. ConfigError when options.device_bytes is not set.
FitResult fit_largest(const ModelLayout& model, const EstimateOptions& options, FitDimension dimension,
                      const MemoryPlanner& planner);

}  // namespace qls
