#include "core/data/perplexity_chunks.h"

#include <algorithm>

#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"

namespace qls {

std::optional<int> perplexity_bos(const Tokenizer& tokenizer) {
    // An empty text encodes to exactly what the post-processor adds around every text.
    const std::vector<int> specials = tokenizer.encode("", true);
    if (tokenizer.bos_id() && !specials.empty() && specials.front() == *tokenizer.bos_id()) return tokenizer.bos_id();
    return std::nullopt;
}

std::vector<Batch> perplexity_chunks(std::span<const int> tokens, std::int64_t ctx, std::optional<int> bos,
                                     std::int64_t rows) {
    QLS_CHECK(ConfigError, ctx >= 4, "perplexity: context length ", ctx, " is below 4");
    QLS_CHECK(ConfigError, rows >= 1, "perplexity: ", rows, " chunks per batch");
    const auto n = static_cast<std::int64_t>(tokens.size());
    QLS_CHECK(DataError, n >= 2 * ctx, "perplexity: the text has ", n, " tokens; a context of ", ctx, " needs at least ",
              2 * ctx);
    const std::int64_t chunks = n / ctx, first = ctx / 2;
    std::vector<Batch> out;
    for (std::int64_t c0 = 0; c0 < chunks; c0 += rows) {
        Batch b;
        b.batch = std::min(rows, chunks - c0);
        b.seq_len = ctx;
        for (std::int64_t c = c0; c < c0 + b.batch; ++c) {
            const auto chunk = tokens.subspan(static_cast<std::size_t>(c * ctx), static_cast<std::size_t>(ctx));
            for (std::int64_t t = 0; t < ctx; ++t) {
                b.tokens.push_back(t == 0 && bos ? *bos : chunk[static_cast<std::size_t>(t)]);
                const bool scored = t >= first && t + 1 < ctx;
                b.targets.push_back(scored ? chunk[static_cast<std::size_t>(t + 1)] : kIgnoreIndex);
                b.positions.push_back(static_cast<std::int32_t>(t));
                b.segments.push_back(0);
            }
        }
        out.push_back(std::move(b));
    }
    return out;
}

}  // namespace qls
