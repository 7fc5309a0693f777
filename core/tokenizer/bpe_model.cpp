// BPE merging exactly as tokenizers' Word::merge_all: start from characters, repeatedly merge the
// adjacent pair with the lowest rank, ties to the leftmost position; byte_fallback, unk fusing,
// ignore_merges and the subword prefix/suffix as in BPE::merge_word / tokenize_with_cache.
#include "core/tokenizer/bpe_model.h"

#include <cstdio>
#include <mutex>
#include <queue>

#include "core/tokenizer/utf8.h"
#include "core/util/error.h"

namespace qls {

BpeModel::BpeModel(BpeOptions o, std::string_view where)
    : m_vocab(std::move(o.vocab)),
      m_prefix(std::move(o.continuing_subword_prefix)),
      m_suffix(std::move(o.end_of_word_suffix)),
      m_fuse_unk(o.fuse_unk),
      m_byte_fallback(o.byte_fallback),
      m_ignore_merges(o.ignore_merges),
      m_cache(std::make_unique<CacheShard[]>(kShards)) {
    if (o.unk_token) {
        m_unk_id = m_vocab.find(*o.unk_token);
        QLS_CHECK(FormatError, m_unk_id.has_value(), where, ": model.unk_token '", *o.unk_token,
                  "' is not in model.vocab");
    }
    m_merges.reserve(o.merges.size());
    for (std::size_t i = 0; i < o.merges.size(); ++i) {
        const auto& [a, b] = o.merges[i];
        const auto a_id = m_vocab.find(a), b_id = m_vocab.find(b);
        QLS_CHECK(FormatError, a_id && b_id, where, ": model.merges[", i, "] ('", a, "', '", b,
                  "') names '", a_id ? b : a, "', which is not in model.vocab");
        QLS_CHECK(FormatError, b.size() >= m_prefix.size() && b.compare(0, m_prefix.size(), m_prefix) == 0,
                  where, ": model.merges[", i, "] right part '", b, "' lacks the continuing_subword_prefix '",
                  m_prefix, "'");
        const std::string merged = a + b.substr(m_prefix.size());
        const auto new_id = m_vocab.find(merged);
        QLS_CHECK(FormatError, new_id.has_value(), where, ": model.merges[", i, "] makes '", merged,
                  "', which is not in model.vocab");
        // A repeated pair keeps its last rank, as the HashMap collect in BpeBuilder::build does.
        m_merges[pair_key(*a_id, *b_id)] = Merge{static_cast<std::uint32_t>(i), *new_id};
    }
    m_all_bytes = true;
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        m_byte_ids[b] = m_vocab.find(name).value_or(-1);
        m_all_bytes = m_all_bytes && m_byte_ids[b] >= 0;
    }
}

void BpeModel::encode_word(std::string_view word, std::vector<int>& out) const {
    if (word.empty()) return;
    if (m_ignore_merges) {
        if (auto id = m_vocab.find(word)) {
            out.push_back(*id);
            return;
        }
    }
    if (word.size() > kMaxCachedWord) {
        merge_word(word, out);
        return;
    }
    auto& shard = m_cache[StringHash{}(word) % kShards];
    {
        std::shared_lock lock(shard.mutex);
        if (auto it = shard.map.find(word); it != shard.map.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<int> ids;
    merge_word(word, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    std::unique_lock lock(shard.mutex);
    if (shard.map.size() < kShardCapacity) shard.map.emplace(std::string(word), std::move(ids));
}

void BpeModel::merge_word(std::string_view word, std::vector<int>& out) const {
    std::vector<int> ids;
    initial_symbols(word, ids);
    merge_all(ids);
    out.insert(out.end(), ids.begin(), ids.end());
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int>& ids) const {
    bool pending_unk = false;  // an unk not yet emitted, so following unks can fuse into it
    std::string s;
    std::size_t pos = 0;
    while (pos < word.size()) {
        const std::size_t start = pos;
        pos += std::min(utf8::sequence_length(static_cast<unsigned char>(word[pos])), word.size() - pos);
        const std::string_view ch = word.substr(start, pos - start);
        s.clear();
        if (start > 0) s += m_prefix;
        s += ch;
        if (pos == word.size()) s += m_suffix;
        if (auto id = m_vocab.find(s)) {
            if (pending_unk) ids.push_back(*m_unk_id), pending_unk = false;
            ids.push_back(*id);
            continue;
        }
        if (m_byte_fallback) {
            bool all = true;
            for (char b : s) all = all && m_byte_ids[static_cast<unsigned char>(b)] >= 0;
            if (all) {
                // As in merge_word: byte tokens do not flush a pending unk.
                for (char b : s) ids.push_back(m_byte_ids[static_cast<unsigned char>(b)]);
                continue;
            }
        }
        if (!m_unk_id) continue;  // no unk token: the character is dropped, as in HF
        if (pending_unk && !m_fuse_unk) ids.push_back(*m_unk_id);
        pending_unk = true;
    }
    if (pending_unk) ids.push_back(*m_unk_id);
}

void BpeModel::merge_all(std::vector<int>& ids) const {
    const int n = static_cast<int>(ids.size());
    if (n < 2) return;
    struct Entry {
        std::uint32_t rank;
        int pos;
        int new_id;
        bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::vector<int> prev(n), next(n);
    std::vector<char> alive(n, 1);
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue;
    for (int i = 0; i < n; ++i) {
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    auto push = [&](int left) {
        if (left < 0 || next[left] < 0) return;
        auto it = m_merges.find(pair_key(ids[left], ids[next[left]]));
        if (it != m_merges.end()) queue.push({it->second.rank, left, it->second.new_id});
    };
    for (int i = 0; i + 1 < n; ++i) push(i);
    while (!queue.empty()) {
        const Entry top = queue.top();
        queue.pop();
        if (!alive[top.pos] || next[top.pos] < 0) continue;
        const int right = next[top.pos];
        // Skip entries made stale by an earlier merge on either side.
        auto it = m_merges.find(pair_key(ids[top.pos], ids[right]));
        if (it == m_merges.end() || it->second.new_id != top.new_id) continue;
        ids[top.pos] = top.new_id;
        alive[right] = 0;
        next[top.pos] = next[right];
        if (next[right] >= 0) prev[next[right]] = top.pos;
        push(prev[top.pos]);
        push(top.pos);
    }
    std::size_t w = 0;
    for (int i = 0; i >= 0 && i < n; i = next[i]) ids[w++] = ids[i];
    ids.resize(w);
}

}  // namespace qls
