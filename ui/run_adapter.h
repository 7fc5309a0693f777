// Where the adapter of a training run lives: its final adapter/ folder once the run ended, or
// the newest checkpoint's adapter while it trains. Both are PEFT folders written atomically, so
// whichever is found is complete and can be read while the trainer keeps writing new ones.
#pragma once
#include <QString>

#include <cstdint>
#include <filesystem>
#include <optional>

namespace qls::ui {

struct RunAdapter {
    std::filesystem::path dir;  // a PEFT folder
    std::int64_t step = -1;     // the checkpoint's step; -1 for the final adapter
    QString description;        // "checkpoint step 40 of run demo", "final adapter of run demo"
};

bool isRunFolder(const std::filesystem::path& dir);  // holds a run.json

// The newest complete checkpoint's adapter; nullopt when the run has saved none yet.
std::optional<RunAdapter> latestCheckpointAdapter(const std::filesystem::path& runDir);

// The final adapter when the run wrote one, else the newest checkpoint's. ConfigError when the
// folder is no run or holds neither.
RunAdapter runAdapter(const std::filesystem::path& runDir);

}  // namespace qls::ui
