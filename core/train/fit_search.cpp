#include "core/train/fit_search.h"

#include "core/util/error.h"

namespace qls {

namespace {

// No one trains with more rows than this in one micro-batch; the cap also keeps the byte counts
// of a tiny model on a big GPU far from overflowing.
constexpr std::int64_t kMaxMicroBatch = 1 << 16;
// A config without max_position_embeddings still needs an end to the search.
constexpr std::int64_t kMaxSeqLen = 1 << 20;

std::int64_t search_limit(const LlamaConfig& c, FitDimension d) {
    if (d == FitDimension::MicroBatch) return kMaxMicroBatch;
    return c.max_position_embeddings > 0 ? c.max_position_embeddings : kMaxSeqLen;
}

}  // namespace

std::string_view fit_dimension_name(FitDimension d) {
    return d == FitDimension::MicroBatch ? "micro-batch" : "seq-len";
}

std::optional<FitDimension> parse_fit_dimension(std::string_view name) {
    for (FitDimension d : {FitDimension::MicroBatch, FitDimension::SeqLen})
        if (name == fit_dimension_name(d)) return d;
    return std::nullopt;
}

FitResult fit_largest(const ModelLayout& model, const EstimateOptions& options, FitDimension dimension,
                      const MemoryPlanner& planner) {
    QLS_CHECK(ConfigError, options.device_bytes > 0, "the largest ", fit_dimension_name(dimension),
              " that fits needs a device size (a GPU or a budget), got none");
    FitResult r;
    r.dimension = dimension;
    r.limit = search_limit(model.config, dimension);
    EstimateOptions o = options;
    std::int64_t& value = dimension == FitDimension::MicroBatch ? o.micro_batch : o.seq_len;
    auto at = [&](std::int64_t v) {
        value = v;
        return estimate_memory(model, o, planner);
    };
    r.estimate = at(1);
    if (!r.estimate.fits) return r;
    // Double while it fits, then bisect between the last fit (lo) and the first miss (hi).
    std::int64_t lo = 1, hi = 0;
    while (hi == 0 && lo < r.limit) {
        const std::int64_t next = std::min(lo * 2, r.limit);
        if (at(next).fits)
            lo = next;
        else
            hi = next;
    }
    while (hi - lo > 1) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        (at(mid).fits ? lo : hi) = mid;
    }
    r.value = lo;
    r.estimate = at(lo);
    return r;
}

}  // namespace qls
