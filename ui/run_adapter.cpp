#include "ui/run_adapter.h"

#include <QObject>

#include "core/train/checkpoint.h"
#include "core/util/error.h"

namespace qls::ui {

namespace {

QString runName(const std::filesystem::path& runDir) {
    const std::filesystem::path clean = runDir.has_filename() ? runDir : runDir.parent_path();
    return QString::fromStdString(clean.filename().string());
}

}  // namespace

bool isRunFolder(const std::filesystem::path& dir) {
    std::error_code ec;
    return std::filesystem::is_regular_file(dir / "run.json", ec);
}

std::optional<RunAdapter> latestCheckpointAdapter(const std::filesystem::path& runDir) {
    const std::vector<std::int64_t> steps = list_checkpoints(runDir);
    if (steps.empty()) return std::nullopt;
    const std::int64_t step = steps.back();
    return RunAdapter{checkpoint_dir(runDir, step) / "adapter", step,
                      QObject::tr("checkpoint step %1 of run %2").arg(step).arg(runName(runDir))};
}

RunAdapter runAdapter(const std::filesystem::path& runDir) {
    QLS_CHECK(ConfigError, isRunFolder(runDir), "'", runDir.string(), "' is not a training run (no run.json)");
    std::error_code ec;
    if (std::filesystem::is_regular_file(runDir / "adapter" / "adapter_config.json", ec))
        return {runDir / "adapter", -1, QObject::tr("final adapter of run %1").arg(runName(runDir))};
    std::optional<RunAdapter> latest = latestCheckpointAdapter(runDir);
    QLS_CHECK(ConfigError, latest.has_value(), "run '", runDir.string(),
              "' has no adapter yet: it writes one at its first checkpoint and when it ends");
    return *latest;
}

}  // namespace qls::ui
