// Pre-tokenizers of tokenizer.json (tokenizers pre_tokenizers/{split,byte_level,metaspace,digits,
// whitespace,sequence}.rs and NormalizedString::split for the delimiter behaviours).
#pragma once
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/tokenizer/regex.h"

namespace qls {

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
enum class PrependScheme { First, Always, Never };

// A piece of text on its way to the model. `at_origin`: it starts at offset 0 of the original
// input, which Metaspace's prepend_scheme "first" asks about.
struct Piece {
    std::string text;
    bool at_origin = false;
};

class PreTokenizer {
public:
    struct Split {
        std::shared_ptr<const Regex> pattern;
        SplitBehavior behavior = SplitBehavior::Isolated;
        bool invert = false;
    };
    struct ByteLevel {
        bool add_prefix_space = false;
        bool use_regex = true;
    };
    struct Metaspace {
        std::string replacement;  // one character
        PrependScheme scheme = PrependScheme::Always;
        bool split = true;
    };
    using Step = std::variant<Split, ByteLevel, Metaspace>;

    // Emplaced in place: a Step temporary trips GCC 12's -Wmaybe-uninitialized on variants.
    template <typename T>
    void add(T step) {
        m_steps.emplace_back(std::in_place_type<T>, std::move(step));
    }
    bool empty() const { return m_steps.empty(); }
    bool has_metaspace_first() const;
    // Rewrites `pieces` in place; empty pieces are dropped as PreTokenizedString::split does.
    void apply(std::vector<Piece>& pieces) const;

    // Building blocks for Digits, Whitespace and WhitespaceSplit, expressed as Split steps.
    static Split digits(bool individual);
    static Split whitespace();
    static Split whitespace_split();

private:
    std::vector<Step> m_steps;
};

}  // namespace qls
