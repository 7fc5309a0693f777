#include "core/tokenizer/post_processor.h"

namespace qls {

PostProcessor PostProcessor::then(const PostProcessor& next) const {
    if (m_identity) return next;
    if (next.m_identity) return *this;
    std::vector<Item> items;
    for (const auto& it : next.m_items) {
        if (it.sequence) items.insert(items.end(), m_items.begin(), m_items.end());
        else items.push_back(it);
    }
    return PostProcessor(std::move(items));
}

void PostProcessor::apply(const std::vector<int>& ids, std::vector<int>& out) const {
    if (m_identity) {
        out.insert(out.end(), ids.begin(), ids.end());
        return;
    }
    for (const auto& it : m_items) {
        if (it.sequence) out.insert(out.end(), ids.begin(), ids.end());
        else out.insert(out.end(), it.ids.begin(), it.ids.end());
    }
}

}  // namespace qls
