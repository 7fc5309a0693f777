// Post-processing of ids when add_special_tokens is set: TemplateProcessing's "single"
// template (tokenizers processors/template.rs). ByteLevel changes only offsets, so it and a
// Sequence of processors reduce to one template.
#pragma once
#include <vector>

namespace qls {

class PostProcessor {
public:
    struct Item {
        bool sequence;         // the encoded text ($A)
        std::vector<int> ids;  // else: these special ids
    };
    PostProcessor() = default;
    explicit PostProcessor(std::vector<Item> items) : m_items(std::move(items)), m_identity(false) {}
    // `then` applied to this one's output.
    PostProcessor then(const PostProcessor& next) const;
    void apply(const std::vector<int>& ids, std::vector<int>& out) const;
    bool identity() const { return m_identity; }

private:
    std::vector<Item> m_items;
    bool m_identity = true;
};

}  // namespace qls
