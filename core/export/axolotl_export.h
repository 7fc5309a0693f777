// `qlora export RUN --axolotl DIR`: a training run handed to axolotl, for when one machine is not
// enough. DIR gets config.yml (axolotl_config.h), the run's dataset as axolotl reads it
// (train.jsonl, valid.jsonl) and a README.md with the launch commands (DDP, DeepSpeed ZeRO-2/3,
// FSDP), every difference from the run, and how the adapter axolotl writes comes back into the
// studio.
//
// The dataset is written pre-tokenized (axolotl docs/dataset-formats/tokenized.qmd: input_ids,
// attention_mask, labels with -100 where the loss is masked), exactly the examples the run
// trained on: our template rendered, tokenized as one text, masked, truncated and split as
// prepare_dataset did. No text form reproduces that: alpaca/chat_template types re-render with
// axolotl's own templates and masks, and input_output tokenizes each segment on its own, which
// differs from tokenizing the whole text wherever BPE merges across a segment boundary
// (piece_tokenizer.h). The ids are the base tokenizer's, the one axolotl loads with base_model.
#pragma once
#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/data/chat_format.h"
#include "core/export/axolotl_config.h"
#include "core/util/progress.h"

namespace qls {

// One example as a line of train.jsonl: {"input_ids", "attention_mask", "labels"}; a label is the
// token's id where it is trained, else -100 (HF shifts labels inside the model, as our targets
// are shifted).
nlohmann::ordered_json axolotl_record(const TokenizedExample& example);

struct AxolotlExportSummary {
    std::size_t train = 0, valid = 0, skipped = 0;  // examples written; records the run left out
    std::vector<std::string> differences;
};

// The README.md text for `run` exported as `config`.
std::string axolotl_readme(const TrainConfig& run, const AxolotlConfig& config,
                           const AxolotlExportSummary& summary);

// Writes the export of the run at `run_dir` into `dir` (created; it must not exist). `model`
// is the base model to read the tokenizer from (the run's, or where it moved). Throws
// ConfigError/FormatError naming run.json when the run cannot be read, ConfigError when the
// dataset changed since the run started (the export would not be what it trained on), and
// what prepare_dataset throws.
AxolotlExportSummary write_axolotl_export(const std::filesystem::path& run_dir,
                                          const std::filesystem::path& model,
                                          const std::filesystem::path& dir, const ProgressFn& progress = {});

}  // namespace qls
