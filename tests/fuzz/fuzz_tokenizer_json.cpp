// libFuzzer target: arbitrary bytes as tokenizer.json. Parsing must either succeed or throw a
// qls::Error; a tokenizer that parses must encode, decode and stream-decode a few texts
// without crashing (qls::Error from bad ids or regex limits is fine).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/tokenizer/stream_decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"

namespace {

void exercise(const qls::Tokenizer& tok, std::string_view text) {
    try {
        const auto ids = tok.encode(text, true);
        (void)tok.decode(ids, false);
        (void)tok.decode(ids, true);
        qls::StreamDecoder stream(tok);
        for (int id : ids) (void)stream.push(id);
        (void)stream.flush();
    } catch (const qls::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    try {
        const auto tok = qls::Tokenizer::from_json_string(input, "fuzz.json");
        exercise(tok, "Hello, world! 123 don't <s>\n\t  x");
        exercise(tok, "Zw\xC3\xB6lf \xE5\xA4\xA9\xE5\x9C\xB0 \xF0\x9F\x98\x80 <|im_start|>a<|im_end|>");
        exercise(tok, "");
        exercise(tok, input.substr(0, 64));
        (void)tok.summary();
        for (int id = -1; id < 4; ++id) {
            try {
                (void)tok.id_to_token(id);
            } catch (const qls::Error&) {
            }
        }
    } catch (const qls::Error&) {
    }
    return 0;
}
