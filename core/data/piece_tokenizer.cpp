#include "core/data/piece_tokenizer.h"

#include <algorithm>

#include "core/tokenizer/tokenizer.h"

namespace qls {

LabeledTokens tokenize_pieces(const Tokenizer& tokenizer, std::span<const TextPiece> pieces) {
    // Offsets where the label changes, and the label of the run that ends there.
    std::string text;
    std::vector<std::pair<std::size_t, bool>> runs;
    for (const TextPiece& p : pieces) {
        if (p.text.empty()) continue;
        if (!runs.empty() && runs.back().second == p.trained) runs.pop_back();
        text += p.text;
        runs.emplace_back(text.size(), p.trained);
    }
    LabeledTokens out;
    const std::vector<int> whole = tokenizer.encode(text, false);
    out.ids.assign(whole.begin(), whole.end());
    out.trained.assign(whole.size(), 0);
    std::size_t begin = 0;  // first token of the current run
    for (std::size_t r = 0; r < runs.size(); ++r) {
        std::size_t end = whole.size();
        if (r + 1 < runs.size()) {
            const std::vector<int> prefix = tokenizer.encode(std::string_view(text).substr(0, runs[r].first), false);
            const auto diverge = std::mismatch(prefix.begin(), prefix.end(), whole.begin(), whole.end());
            end = std::max<std::size_t>(begin, diverge.first - prefix.begin());
            if (diverge.first != prefix.end()) ++out.straddles;
        }
        std::fill(out.trained.begin() + std::ptrdiff_t(begin), out.trained.begin() + std::ptrdiff_t(end),
                  runs[r].second ? 1 : 0);
        begin = end;
    }
    return out;
}

}  // namespace qls
