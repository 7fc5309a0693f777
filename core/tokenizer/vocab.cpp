#include "core/tokenizer/vocab.h"

#include "core/util/error.h"

namespace qls {

void Vocab::add(std::string token, int id, std::string_view where) {
    QLS_CHECK(FormatError, id >= 0 && id < kMaxTokenId, where, ": token '", token, "' has id ", id,
              ", expected 0 <= id < ", kMaxTokenId);
    if (static_cast<std::size_t>(id) >= m_tokens.size()) {
        m_tokens.resize(static_cast<std::size_t>(id) + 1);
        m_present.resize(static_cast<std::size_t>(id) + 1, 0);
    }
    QLS_CHECK(FormatError, !m_present[id], where, ": id ", id, " is given to both '", m_tokens[id],
              "' and '", token, "'");
    QLS_CHECK(FormatError, !m_to_id.contains(token), where, ": token '", token, "' appears twice");
    m_present[id] = 1;
    m_tokens[id] = token;
    m_to_id.emplace(std::move(token), id);
}

void Vocab::add_in_order(std::string token) {
    const int id = static_cast<int>(m_tokens.size());
    m_tokens.push_back(token);
    m_present.push_back(1);
    m_to_id.insert_or_assign(std::move(token), id);
}

}  // namespace qls
