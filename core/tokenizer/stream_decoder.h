// Incremental decoding for generation output: push ids one at a time, get text as soon as it is
// complete UTF-8. The pieces concatenate to Tokenizer::decode of the whole sequence. Same
// scheme as tokenizers' DecodeStream: decode a short window of recent ids and emit the growth
// past the previous window's text unless it ends in U+FFFD (an unfinished byte sequence).
#pragma once
#include <string>
#include <vector>

namespace qls {

class Tokenizer;

class StreamDecoder {
public:
    // The tokenizer must outlive the decoder.
    explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
    // Text completed by `id` ("" while a multi-byte character is still partial).
    std::string push(int id);
    // Whatever is held back (partial bytes decode as U+FFFD); the decoder starts afresh.
    std::string flush();

private:
    const Tokenizer* m_tokenizer;
    bool m_skip_special;
    std::vector<int> m_ids;      // window: context ids, then ids not yet emitted
    std::string m_prefix;        // decode of the context ids
    std::size_t m_prefix_index = 0;  // ids before this index are context
};

}  // namespace qls
