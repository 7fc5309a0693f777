// libFuzzer target: arbitrary bytes as a model folder's config.json and tokenizer_config.json
// (both come with a downloaded model). Each must parse into its config or throw a qls::Error
// naming the file; a config that parses must give its parameter count without overflow traps.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/model/llama_config.h"
#include "core/tokenizer/tokenizer_config.h"
#include "core/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        (void)qls::parse_tokenizer_config(text, "tokenizer_config.json");
    } catch (const qls::Error&) {
    }
    const auto json = nlohmann::json::parse(text, nullptr, false);
    if (json.is_discarded()) return 0;
    try {
        const auto config = qls::parse_llama_config(json, "config.json");
        (void)qls::parameter_count(config);
    } catch (const qls::Error&) {
    }
    return 0;
}
