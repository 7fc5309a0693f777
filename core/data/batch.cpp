#include "core/data/batch.h"

#include <algorithm>

namespace qls {

std::int64_t Batch::trained_tokens() const {
    return std::count_if(targets.begin(), targets.end(),
                         [](std::int32_t t) { return t != kIgnoreIndex; });
}

SequenceOffsets sequence_offsets(std::int64_t rows, std::int64_t seq_len, std::span<const std::int32_t> segments) {
    SequenceOffsets o;
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t t = 0; t < seq_len; ++t) {
            const std::size_t i = static_cast<std::size_t>(r * seq_len + t);
            if (t == 0 || segments[i] != segments[i - 1]) {
                if (!o.cu.empty()) o.max_len = std::max<std::int64_t>(o.max_len, static_cast<std::int64_t>(i) - o.cu.back());
                o.cu.push_back(static_cast<std::int32_t>(i));
            }
        }
    const auto n = static_cast<std::int32_t>(rows * seq_len);
    if (!o.cu.empty()) o.max_len = std::max<std::int64_t>(o.max_len, n - o.cu.back());
    o.cu.push_back(n);
    return o;
}

}  // namespace qls
