// Batches for the trainer: examples grouped into rows (one example per row, or several packed
// into one row without attention between them), rows shuffled per epoch with a seed, cut into
// micro-batches of B rows padded to a common length. The position (epoch, cursor) saves to JSON
// with a checkpoint, and a sampler restored from it yields exactly the batches that would have
// followed.
//
// B rows per batch, T positions per row.
#pragma once
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/data/batch.h"
#include "core/data/chat_format.h"

namespace qls {

class Tokenizer;

struct SamplerOptions {
    std::size_t batch_size = 1;   // B (rows per micro-batch; the epoch's last batch may be smaller)
    std::size_t max_seq_len = 512;  // T: longest row; longer examples are cut
    bool packing = false;         // fill rows with several examples (best fit, longest first)
    bool group_by_length = false;  // HF LengthGroupedSampler: sort each block of 50 B shuffled rows by length
    bool pad_to_max = false;      // every batch T wide; else as wide as its longest row
    std::uint64_t seed = 0;
    std::int32_t pad_id = 0;      // see padding_id()
};

// The tokenizer's pad id, unless it is missing or equal to EOS (padding must never look like
// the end of a response): then 0. Padded targets are kIgnoreIndex either way.
std::int32_t padding_id(const Tokenizer& tokenizer);

struct SamplerPosition {
    std::uint64_t epoch = 0;
    std::uint64_t cursor = 0;  // batches of this epoch already handed out
    std::uint64_t batches_per_epoch = 0;  // checked on restore: the dataset must not have changed

    nlohmann::json to_json() const;
    static SamplerPosition from_json(const nlohmann::json& j);  // ConfigError on a malformed object
    bool operator==(const SamplerPosition&) const = default;
};

// Rows as lists of example indices: one per example, or packed (best fit decreasing into
// max_seq_len tokens; an example longer than that gets a row of its own).
std::vector<std::vector<std::size_t>> make_rows(std::span<const TokenizedExample> examples, std::size_t max_seq_len,
                                                bool packing);

// One batch from rows. Within a row each example is a segment (0, 1, ...) with positions from 0;
// targets[t] is the next token's id when that token is trained and in the same segment, else
// kIgnoreIndex; padding has segment -1 and position 0.
Batch make_batch(std::span<const TokenizedExample> examples, std::span<const std::vector<std::size_t>> rows,
                 const SamplerOptions& options);

class BatchSampler {
public:
    // `examples` must outlive the sampler. ConfigError when there are none or B is 0.
    BatchSampler(std::span<const TokenizedExample> examples, SamplerOptions options);

    std::size_t batches_per_epoch() const { return (m_rows.size() + m_options.batch_size - 1) / m_options.batch_size; }
    std::size_t rows() const { return m_rows.size(); }
    Batch next();  // moves to the next epoch after its last batch
    SamplerPosition position() const { return {m_epoch, m_cursor, batches_per_epoch()}; }
    // ConfigError when the position does not belong to this dataset and these options.
    void seek(const SamplerPosition& position);

private:
    void plan_epoch();

    std::span<const TokenizedExample> m_examples;
    SamplerOptions m_options;
    std::vector<std::vector<std::size_t>> m_rows;
    std::vector<std::size_t> m_order;  // row indices of the current epoch, batch after batch
    std::uint64_t m_epoch = 0, m_cursor = 0;
};

// The validation pass: rows as make_rows builds them (file order unpacked), B at a time, no
// shuffling: the same batches every time.
std::vector<Batch> make_eval_batches(std::span<const TokenizedExample> examples, const SamplerOptions& options);

}  // namespace qls
