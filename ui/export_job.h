// The Export page's work, run off the UI thread: read the adapter, load the base when an
// output needs it, and write each chosen output into the destination. Every destination is
// checked before anything is written (export_destination.h: never inside the run, the adapter
// or the model, never over what is not our export unless forced); each output is built in a
// temporary sibling and moved into place; this job also removes the folders it created when
// nothing ended up in them, so a failure leaves no trace behind.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/export/gguf_quant_mix.h"
#include "core/io/ggml_type.h"
#include "core/model/model_loader.h"
#include "core/train/train_config.h"
#include "core/util/progress.h"

namespace qls::ui {

struct ExportOutputs {
    bool peft = true;       // <destination>/peft-adapter/
    bool merged = false;    // <destination>/merged-bf16/
    bool gguf = false;      // <destination>/gguf/<model>-<type>.gguf and its Modelfile
    bool ggufLora = false;  // <destination>/gguf-lora/<model>-lora.gguf and <model>-base-<type>.gguf
    GgmlType ggufType = GgmlType::F16;
    // llama-quantize's Q4_K_M / Q5_K_M / Q6_K for the merged GGUF and the LoRA's base instead of
    // ggufType (the LoRA adapter itself is then written in ggufType).
    std::optional<GgufQuantMix> ggufMix;
    bool axolotl = false;  // <destination>/axolotl/: the run for axolotl on several GPUs (runs only)
};

struct ExportRequest {
    std::filesystem::path adapterDir;  // a PEFT folder
    std::filesystem::path runDir;      // the run it comes from, if any: never written into
    std::filesystem::path modelPath;   // the base model; needed by every output but PEFT
    std::optional<TrainConfig> run;    // the run's settings: model card and the 4-bit merge base
    std::int64_t steps = 0;            // for the model card; 0: unknown
    std::filesystem::path destination;
    ExportOutputs outputs;
    bool mergeOntoQuantized = true;  // when the run trained on a 4-bit base
    bool force = false;              // write into destinations holding other things (export_destination.h)
};

struct ExportedFile {
    std::filesystem::path path;  // relative to the destination
    std::uint64_t bytes = 0;
};

struct ExportOutcome {
    std::vector<ExportedFile> files;  // of the outputs written completely
    std::string failedOutput;         // the output that failed ("merged GGUF"); later ones not tried
    std::string error;
    // The destination check refused an output before anything was written, and would not with
    // force: the page asks whether to replace.
    bool forceWouldHelp = false;
};

// `loaded`: the model the studio has open, used instead of loading modelPath again when it is
// the same. `phase` names each step as it starts. Cancelled propagates; other errors end up in
// the outcome, after the outputs before them were written completely.
ExportOutcome runExport(const ExportRequest& request, std::shared_ptr<const Model> loaded,
                        const ProgressFn& progress, const std::function<void(const std::string&)>& phase);

}  // namespace qls::ui
