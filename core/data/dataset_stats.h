// Token-length statistics of a prepared dataset, for the GUI's dataset page and the CLI.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/data/chat_format.h"

namespace qls {

struct SplitStats {
    std::size_t examples = 0;
    std::size_t tokens = 0;          // after truncation
    std::size_t trained_tokens = 0;  // labels the loss sees
    std::size_t truncated = 0;       // examples cut to max_seq_len
    std::size_t min_length = 0, max_length = 0;  // after truncation; 0 when empty
    double mean_length = 0.0;
};

// Lengths before truncation: bin i counts examples of [i * bin_width, (i + 1) * bin_width) tokens.
struct LengthHistogram {
    std::size_t bin_width = 1;
    std::vector<std::size_t> counts;
};

struct DatasetStats {
    // records = train.examples + valid.examples + rejected; dropped = rejected + unreadable, one
    // listed issue each.
    std::size_t records = 0;     // records read from the file(s), usable or not
    std::size_t rejected = 0;    // records read but left out (no response, over-long, bad field, ...)
    std::size_t unreadable = 0;  // lines or elements that could not be read as a record at all
    std::size_t dropped = 0;     // issues listed: rejected + unreadable
    std::size_t max_seq_len = 0;
    SplitStats train, valid;
    LengthHistogram histogram;  // train and validation examples
};

SplitStats split_stats(std::span<const TokenizedExample> examples);

// `bins` equal bins from 0 to past the longest full_length and max_seq_len, whichever is larger.
LengthHistogram length_histogram(std::span<const TokenizedExample> a, std::span<const TokenizedExample> b,
                                 std::size_t max_seq_len, std::size_t bins = 24);

}  // namespace qls
