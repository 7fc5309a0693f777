#include "core/data/dataset_stats.h"

#include <algorithm>

namespace qls {

SplitStats split_stats(std::span<const TokenizedExample> examples) {
    SplitStats s;
    s.examples = examples.size();
    if (examples.empty()) return s;
    s.min_length = examples.front().ids.size();
    for (const TokenizedExample& e : examples) {
        s.tokens += e.ids.size();
        s.trained_tokens += e.trained_tokens();
        s.truncated += e.truncated ? 1 : 0;
        s.min_length = std::min(s.min_length, e.ids.size());
        s.max_length = std::max(s.max_length, e.ids.size());
    }
    s.mean_length = double(s.tokens) / double(s.examples);
    return s;
}

LengthHistogram length_histogram(std::span<const TokenizedExample> a, std::span<const TokenizedExample> b,
                                 std::size_t max_seq_len, std::size_t bins) {
    std::size_t longest = max_seq_len;
    for (auto span : {a, b})
        for (const TokenizedExample& e : span) longest = std::max(longest, e.full_length);
    LengthHistogram h;
    bins = std::max<std::size_t>(bins, 1);
    h.bin_width = std::max<std::size_t>(1, longest / bins + 1);
    h.counts.assign(bins, 0);
    for (auto span : {a, b})
        for (const TokenizedExample& e : span) ++h.counts[std::min(bins - 1, e.full_length / h.bin_width)];
    return h;
}

}  // namespace qls
