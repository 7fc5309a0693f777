// Pre-tokenizer steps. Digits/Whitespace/WhitespaceSplit use char predicates in Rust; we express
// each as a regex with the same split result (Contiguous over per-char matches = Isolated over
// runs; Invert+Removed of a word regex = keep only its matches).
#include "core/tokenizer/pre_tokenizer.h"

#include <algorithm>

#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/utf8.h"

namespace qls {
namespace {

struct Mark {
    std::size_t begin, end;
    bool is_match;
};

// Pattern::find_matches: the marks cover the whole text in order.
void cover(std::string_view text, const std::vector<Span>& matches, bool invert, std::vector<Mark>& out) {
    out.clear();
    if (text.empty()) {
        out.push_back({0, 0, invert});
        return;
    }
    std::size_t prev = 0;
    for (const auto& [b, e] : matches) {
        if (prev != b) out.push_back({prev, b, invert});
        out.push_back({b, e, !invert});
        prev = e;
    }
    if (prev != text.size()) out.push_back({prev, text.size(), invert});
}

// NormalizedString::split: the (begin, end, remove) slices for a delimiter behaviour.
void apply_behavior(const std::vector<Mark>& marks, SplitBehavior behavior, std::vector<Mark>& out) {
    out.clear();
    bool previous_match = false;
    switch (behavior) {
    case SplitBehavior::Isolated:
        for (const auto& m : marks) out.push_back({m.begin, m.end, false});
        return;
    case SplitBehavior::Removed:
        out = marks;
        return;
    case SplitBehavior::Contiguous:
        for (const auto& m : marks) {
            if (m.is_match == previous_match && !out.empty()) out.back().end = m.end;
            else out.push_back({m.begin, m.end, false});
            previous_match = m.is_match;
        }
        return;
    case SplitBehavior::MergedWithPrevious:
        for (const auto& m : marks) {
            if (m.is_match && !previous_match && !out.empty()) out.back().end = m.end;
            else out.push_back({m.begin, m.end, false});
            previous_match = m.is_match;
        }
        return;
    case SplitBehavior::MergedWithNext:
        for (auto it = marks.rbegin(); it != marks.rend(); ++it) {
            if (it->is_match && !previous_match && !out.empty()) out.back().begin = it->begin;
            else out.push_back({it->begin, it->end, false});
            previous_match = it->is_match;
        }
        std::reverse(out.begin(), out.end());
        return;
    }
}

// Split `piece` at `matches` and append the kept non-empty slices to `out`.
void split_piece(Piece&& piece, const std::vector<Span>& matches, bool invert, SplitBehavior behavior,
                 std::vector<Piece>& out) {
    thread_local std::vector<Mark> marks, slices;
    cover(piece.text, matches, invert, marks);
    apply_behavior(marks, behavior, slices);
    if (slices.size() == 1 && !slices[0].is_match && slices[0].begin == 0 && slices[0].end == piece.text.size()) {
        if (!piece.text.empty()) out.push_back(std::move(piece));
        return;
    }
    for (const auto& s : slices) {
        if (s.is_match || s.begin == s.end) continue;
        out.push_back({piece.text.substr(s.begin, s.end - s.begin), piece.at_origin && s.begin == 0});
    }
}

const Regex& gpt2_regex() {
    static const Regex re(kGpt2Pattern, "ByteLevel pre-tokenizer");
    return re;
}

void byte_level_step(const PreTokenizer::ByteLevel& bl, std::vector<Piece>& in, std::vector<Piece>& out) {
    std::vector<Span> matches;
    std::vector<Piece> split;
    for (auto& p : in) {
        if (bl.add_prefix_space && (p.text.empty() || p.text[0] != ' ')) p.text.insert(0, " ");
        split.clear();
        if (bl.use_regex) {
            matches.clear();
            gpt2_regex().find_all(p.text, matches);
            split_piece(std::move(p), matches, false, SplitBehavior::Isolated, split);
        } else if (!p.text.empty()) {
            split.push_back(std::move(p));
        }
        for (auto& s : split) {
            std::string mapped;
            mapped.reserve(s.text.size() * 2);
            byte_level::encode(s.text, mapped);
            out.push_back({std::move(mapped), s.at_origin});
        }
    }
}

void metaspace_step(const PreTokenizer::Metaspace& ms, std::vector<Piece>& in, std::vector<Piece>& out) {
    for (auto& p : in) {
        std::string s;
        s.reserve(p.text.size() + ms.replacement.size());
        for (char c : p.text) {
            if (c == ' ') s += ms.replacement;
            else s += c;
        }
        const bool starts = s.compare(0, ms.replacement.size(), ms.replacement) == 0;
        if (!starts && (ms.scheme == PrependScheme::Always || (ms.scheme == PrependScheme::First && p.at_origin)))
            s.insert(0, ms.replacement);
        if (!ms.split) {
            if (!s.empty()) out.push_back({std::move(s), p.at_origin});
            continue;
        }
        std::vector<Span> matches;
        for (std::size_t pos = s.find(ms.replacement); pos != std::string::npos;
             pos = s.find(ms.replacement, pos + ms.replacement.size()))
            matches.push_back({pos, pos + ms.replacement.size()});
        split_piece({std::move(s), p.at_origin}, matches, false, SplitBehavior::MergedWithNext, out);
    }
}

}  // namespace

bool PreTokenizer::has_metaspace_first() const {
    for (const auto& s : m_steps)
        if (auto* m = std::get_if<Metaspace>(&s); m && m->scheme == PrependScheme::First) return true;
    return false;
}

void PreTokenizer::apply(std::vector<Piece>& pieces) const {
    std::vector<Piece> next;
    std::vector<Span> matches;
    for (const auto& step : m_steps) {
        next.clear();
        if (auto* sp = std::get_if<Split>(&step)) {
            for (auto& p : pieces) {
                matches.clear();
                sp->pattern->find_all(p.text, matches);
                split_piece(std::move(p), matches, sp->invert, sp->behavior, next);
            }
        } else if (auto* bl = std::get_if<ByteLevel>(&step)) {
            byte_level_step(*bl, pieces, next);
        } else {
            metaspace_step(std::get<Metaspace>(step), pieces, next);
        }
        pieces.swap(next);
    }
}

PreTokenizer::Split PreTokenizer::digits(bool individual) {
    // char::is_numeric is the N general category.
    return {std::make_shared<const Regex>(individual ? R"(\p{N})" : R"(\p{N}+)", "Digits pre-tokenizer"),
            SplitBehavior::Isolated, false};
}

PreTokenizer::Split PreTokenizer::whitespace() {
    // Rust regex \w (Unicode word: Alphabetic, M, Nd, Pc, Join_Control) and \s (White_Space).
    static const char* word = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D})";
    return {std::make_shared<const Regex>(std::string("[") + word + "]+|[^" + word + R"(\s]+)",
                                          "Whitespace pre-tokenizer"),
            SplitBehavior::Removed, true};
}

PreTokenizer::Split PreTokenizer::whitespace_split() {
    return {std::make_shared<const Regex>(R"(\s+)", "WhitespaceSplit pre-tokenizer"), SplitBehavior::Removed,
            false};
}

}  // namespace qls
