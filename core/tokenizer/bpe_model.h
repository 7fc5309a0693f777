// The BPE model of tokenizer.json (formats.md §8.1; tokenizers models/bpe/{model,word}.rs).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tokenizer/vocab.h"

namespace qls {

struct BpeOptions {
    Vocab vocab;
    std::vector<std::pair<std::string, std::string>> merges;  // rank = index
    std::optional<std::string> unk_token;
    std::string continuing_subword_prefix;  // "" = none
    std::string end_of_word_suffix;         // "" = none
    bool fuse_unk = false;
    bool byte_fallback = false;
    bool ignore_merges = false;
};

class BpeModel final : public TokenModel {
public:
    // Throws FormatError naming `where` when a merge names a token absent from the vocab.
    BpeModel(BpeOptions options, std::string_view where);
    void encode_word(std::string_view word, std::vector<int>& out) const override;
    const Vocab& vocab() const override { return m_vocab; }

private:
    struct Merge {
        std::uint32_t rank;
        int new_id;
    };
    static std::uint64_t pair_key(int a, int b) {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
    }
    void merge_word(std::string_view word, std::vector<int>& out) const;
    // Symbols of a word before merging: one per character (or byte-fallback byte, or fused unk).
    void initial_symbols(std::string_view word, std::vector<int>& ids) const;
    void merge_all(std::vector<int>& ids) const;

    Vocab m_vocab;
    std::unordered_map<std::uint64_t, Merge> m_merges;
    std::optional<int> m_unk_id;
    std::string m_prefix, m_suffix;
    bool m_fuse_unk, m_byte_fallback, m_ignore_merges;
    std::array<int, 256> m_byte_ids;  // id of "<0xXX>", -1 when absent
    bool m_all_bytes = false;

    // Word -> ids cache, sharded so many encoding threads rarely contend.
    struct CacheShard {
        mutable std::shared_mutex mutex;
        StringMap<std::vector<int>> map;  // guarded by mutex
    };
    static constexpr std::size_t kShards = 32, kShardCapacity = 4096, kMaxCachedWord = 256;
    std::unique_ptr<CacheShard[]> m_cache;
};

}  // namespace qls
