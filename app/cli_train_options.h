// The hyperparameter flags shared by qlora train and qlora estimate: they fill a TrainConfig
// (starting from defaults or a run.json) so both commands accept the same spelling.
#pragma once
#include <string>
#include <vector>

#include "app/cli_commands.h"
#include "core/train/train_config.h"

namespace qls::cli {

extern const char* const kTrainOptionsHelp;
const std::vector<std::string>& train_flags();
const std::vector<std::string>& train_options();
// Applies every given flag/option to `config`; UsageError for a malformed number.
void apply_train_options(const Args& args, TrainConfig& config);

}  // namespace qls::cli
