// libFuzzer target: arbitrary bytes as the JSON a resume reads back from a run folder:
// trainer_state.json (a checkpoint's progress) and run.json's config. A file edited or damaged
// on disk must give a qls::Error naming it, and a config that reads back must validate or say
// which field is impossible, never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/train/checkpoint.h"
#include "core/train/train_config.h"
#include "core/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto json = nlohmann::json::parse(text, nullptr, false);
    if (json.is_discarded()) return 0;
    try {
        (void)qls::TrainerProgress::from_json(json);
    } catch (const qls::Error&) {
    }
    try {
        const auto config = qls::train_config_from_json(json.is_object() && json.contains("config") ? json["config"] : json);
        config.validate();
        (void)qls::to_json(config);
    } catch (const qls::Error&) {
    }
    return 0;
}
