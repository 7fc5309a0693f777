// One micro-batch as the model consumes it. B sequences, T positions each (padded).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace qls {

inline constexpr std::int32_t kIgnoreIndex = -100;  // target not trained (HF/PyTorch convention)

struct Batch {
    std::int64_t batch = 0;   // B
    std::int64_t seq_len = 0; // T
    std::vector<std::int32_t> tokens;     // (B, T) input ids; padding uses the pad id
    std::vector<std::int32_t> targets;    // (B, T) id of the NEXT token to predict, or kIgnoreIndex
                                          // (already shifted: targets[t] = labels[t + 1])
    std::vector<std::int32_t> positions;  // (B, T) RoPE position, restarting at 0 per packed example
    std::vector<std::int32_t> segments;   // (B, T) packed-example index; attention stays inside one
                                          // segment; padding gets -1

    std::int64_t trained_tokens() const;  // count of targets != kIgnoreIndex
};

// The batch's tokens as packed sequences for attention (FlashAttention's cu_seqlens over the
// B·T tokens): a sequence starts at every row and wherever the segment id changes, so runs of
// padding are sequences of their own.
struct SequenceOffsets {
    std::vector<std::int32_t> cu;  // S + 1 offsets, 0 ... B·T
    std::int64_t max_len = 0;
};
SequenceOffsets sequence_offsets(std::int64_t rows, std::int64_t seq_len, std::span<const std::int32_t> segments);

}  // namespace qls
