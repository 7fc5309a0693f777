#include "core/data/batch_sampler.h"

#include <algorithm>
#include <map>

#include "core/data/seeded_permutation.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"

namespace qls {
namespace {

std::size_t row_length(std::span<const TokenizedExample> examples, const std::vector<std::size_t>& row, std::size_t t) {
    std::size_t n = 0;
    for (std::size_t i : row) n += examples[i].ids.size();
    return std::min(n, t);
}

std::uint64_t json_count(const nlohmann::json& j, const char* key) {
    QLS_CHECK(ConfigError, j.is_object() && j.contains(key) && j[key].is_number_integer() && j[key].get<std::int64_t>() >= 0,
              "sampler position: expected a non-negative integer '", key, "' in ", j.dump());
    return j[key].get<std::uint64_t>();
}

}  // namespace

std::int32_t padding_id(const Tokenizer& tokenizer) {
    const auto pad = tokenizer.pad_id();
    if (!pad || pad == tokenizer.eos_id()) return 0;
    return *pad;
}

nlohmann::json SamplerPosition::to_json() const {
    return {{"epoch", epoch}, {"cursor", cursor}, {"batches_per_epoch", batches_per_epoch}};
}

SamplerPosition SamplerPosition::from_json(const nlohmann::json& j) {
    return {json_count(j, "epoch"), json_count(j, "cursor"), json_count(j, "batches_per_epoch")};
}

std::vector<std::vector<std::size_t>> make_rows(std::span<const TokenizedExample> examples, std::size_t max_seq_len,
                                                bool packing) {
    std::vector<std::vector<std::size_t>> rows;
    if (!packing) {
        for (std::size_t i = 0; i < examples.size(); ++i) rows.push_back({i});
        return rows;
    }
    std::vector<std::size_t> order(examples.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return examples[a].ids.size() > examples[b].ids.size(); });
    std::multimap<std::size_t, std::size_t> room;  // free tokens -> row; the tightest fit wins
    for (std::size_t i : order) {
        const std::size_t len = examples[i].ids.size();
        auto fit = room.lower_bound(len);
        if (fit == room.end()) {
            rows.push_back({i});
            if (len < max_seq_len) room.emplace(max_seq_len - len, rows.size() - 1);
            continue;
        }
        const auto [free, row] = *fit;
        room.erase(fit);
        rows[row].push_back(i);
        if (free > len) room.emplace(free - len, row);
    }
    return rows;
}

Batch make_batch(std::span<const TokenizedExample> examples, std::span<const std::vector<std::size_t>> rows,
                 const SamplerOptions& o) {
    std::size_t width = 0;
    for (const auto& row : rows) width = std::max(width, row_length(examples, row, o.max_seq_len));
    if (o.pad_to_max) width = o.max_seq_len;
    Batch b;
    b.batch = std::int64_t(rows.size());
    b.seq_len = std::int64_t(width);
    const std::size_t n = rows.size() * width;
    b.tokens.assign(n, o.pad_id);
    b.targets.assign(n, kIgnoreIndex);
    b.positions.assign(n, 0);
    b.segments.assign(n, -1);
    for (std::size_t r = 0; r < rows.size(); ++r) {
        std::size_t at = r * width, used = 0;
        for (std::size_t s = 0; s < rows[r].size() && used < width; ++s) {
            const TokenizedExample& ex = examples[rows[r][s]];
            const std::size_t len = std::min(ex.ids.size(), width - used);
            for (std::size_t t = 0; t < len; ++t) {
                b.tokens[at + t] = ex.ids[t];
                b.positions[at + t] = std::int32_t(t);
                b.segments[at + t] = std::int32_t(s);
                if (t + 1 < len && ex.trained[t + 1]) b.targets[at + t] = ex.ids[t + 1];
            }
            at += len;
            used += len;
        }
    }
    return b;
}

BatchSampler::BatchSampler(std::span<const TokenizedExample> examples, SamplerOptions options)
    : m_examples(examples), m_options(options), m_rows(make_rows(examples, options.max_seq_len, options.packing)) {
    QLS_CHECK(ConfigError, !examples.empty(), "the batch sampler has no examples");
    QLS_CHECK(ConfigError, options.batch_size > 0, "batch size must be at least 1");
    QLS_CHECK(ConfigError, options.max_seq_len > 0, "max_seq_len must be at least 1");
    plan_epoch();
}

void BatchSampler::plan_epoch() {
    m_order = seeded_permutation(m_rows.size(), mix_seed(m_options.seed, m_epoch));
    if (!m_options.group_by_length) return;
    // Longest first inside each block, as transformers' get_length_grouped_indices, so the
    // epoch's batches stay random but each holds rows of similar length.
    const std::size_t block = 50 * m_options.batch_size;
    for (std::size_t b = 0; b < m_order.size(); b += block) {
        const auto first = m_order.begin() + std::ptrdiff_t(b);
        const auto last = m_order.begin() + std::ptrdiff_t(std::min(m_order.size(), b + block));
        std::stable_sort(first, last, [&](std::size_t x, std::size_t y) {
            return row_length(m_examples, m_rows[x], m_options.max_seq_len) > row_length(m_examples, m_rows[y], m_options.max_seq_len);
        });
    }
}

Batch BatchSampler::next() {
    if (m_cursor >= batches_per_epoch()) {
        ++m_epoch;
        m_cursor = 0;
        plan_epoch();
    }
    const std::size_t begin = std::size_t(m_cursor) * m_options.batch_size;
    const std::size_t end = std::min(m_order.size(), begin + m_options.batch_size);
    std::vector<std::vector<std::size_t>> rows;
    for (std::size_t i = begin; i < end; ++i) rows.push_back(m_rows[m_order[i]]);
    ++m_cursor;
    return make_batch(m_examples, rows, m_options);
}

void BatchSampler::seek(const SamplerPosition& p) {
    QLS_CHECK(ConfigError, p.batches_per_epoch == batches_per_epoch(), "sampler position is for ", p.batches_per_epoch,
              " batches per epoch, but this dataset and batch size give ", batches_per_epoch(),
              " (the dataset or its options changed since it was saved)");
    QLS_CHECK(ConfigError, p.cursor <= p.batches_per_epoch, "sampler position: cursor ", p.cursor, " is past the ",
              p.batches_per_epoch, " batches of an epoch");
    m_epoch = p.epoch;
    m_cursor = p.cursor;
    plan_epoch();
}

std::vector<Batch> make_eval_batches(std::span<const TokenizedExample> examples, const SamplerOptions& o) {
    QLS_CHECK(ConfigError, o.batch_size > 0, "batch size must be at least 1");
    const std::vector<std::vector<std::size_t>> rows = make_rows(examples, o.max_seq_len, o.packing);
    std::vector<Batch> batches;
    for (std::size_t b = 0; b < rows.size(); b += o.batch_size)
        batches.push_back(make_batch(examples, std::span(rows).subspan(b, std::min(o.batch_size, rows.size() - b)), o));
    return batches;
}

}  // namespace qls
