#include "ui/export_job.h"

#include <algorithm>
#include <cctype>

#include "core/export/axolotl_export.h"
#include "core/export/base_model_id.h"
#include "core/export/export_destination.h"
#include "core/export/gguf_lora_export.h"
#include "core/export/gguf_model_export.h"
#include "core/export/merged_export.h"
#include "core/export/peft_adapter.h"
#include "core/export/run_model_card.h"
#include "core/util/error.h"

namespace qls::ui {

namespace {

namespace fs = std::filesystem;

// Folders this job created; on destruction the ones left empty are removed, deepest first.
class CreatedFolders {
public:
    CreatedFolders() = default;
    CreatedFolders(const CreatedFolders&) = delete;
    CreatedFolders& operator=(const CreatedFolders&) = delete;
    ~CreatedFolders() {
        for (auto it = m_created.rbegin(); it != m_created.rend(); ++it) {
            std::error_code ec;
            if (fs::is_empty(*it, ec) && !ec) fs::remove(*it, ec);
        }
    }
    void ensure(const fs::path& dir) {
        std::vector<fs::path> missing;
        std::error_code ec;
        for (fs::path p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
            missing.push_back(p);
            if (p == p.parent_path()) break;
        }
        for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
            fs::create_directory(*it, ec);
            QLS_CHECK(IoError, !ec, "cannot create folder '", it->string(), "': ", ec.message());
            m_created.push_back(*it);
        }
    }

private:
    std::vector<fs::path> m_created;  // parents first
};

std::string fileStem(const std::string& name) {
    std::string s = name;
    std::replace_if(s.begin(), s.end(), [](unsigned char c) { return !std::isalnum(c) && c != '-' && c != '.' && c != '_'; }, '-');
    return s.empty() ? "model" : s;
}

std::string typeSuffix(const ExportOutputs& o) {
    std::string s(o.ggufMix ? gguf_mix_name(*o.ggufMix) : ggml_type_info(o.ggufType)->name);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

// The same card `qlora export` writes (run_model_card.h): the run's settings and the losses it
// measured up to the adapter exported; an adapter from outside a run only knows its steps.
ModelCard modelCard(const ExportRequest& r) {
    const std::optional<RunAdapter> at = r.run ? run_adapter_of(r.adapterDir) : std::nullopt;
    if (at) return run_model_card(*r.run, *at);
    ModelCard card;
    card.steps = r.steps;
    return card;
}

MergeBase mergeBase(const ExportRequest& r) {
    if (!r.mergeOntoQuantized || !r.run || !r.run->base.quant) return MergeBase::original();
    return MergeBase::trained(r.run->base);
}

void listFiles(const fs::path& destination, const ExportTarget& target, std::vector<ExportedFile>& files) {
    for (const fs::path& p : exported_files(target)) files.push_back({fs::relative(p, destination), fs::file_size(p)});
}

// One output: a name for messages, where it goes, and how to write it.
struct Step {
    std::string name;
    std::vector<ExportTarget> targets;  // what it writes, checked before any step runs; listed afterwards
    bool needsModel = false;
    std::function<void(const Model* model, const ProgressFn& progress)> write;
};

ExportTarget target(const ExportRequest& r, fs::path path, ExportKind kind, bool modelfile = false) {
    ExportTarget t;
    t.path = std::move(path);
    t.kind = kind;
    t.modelfile = modelfile;
    t.read_from = {r.runDir, r.adapterDir, r.modelPath};
    t.force = r.force;
    return t;
}

// Why a step may not write its outputs (empty when it may), and whether force would let it.
std::string refusal(std::vector<ExportTarget> targets, bool& forceWouldHelp) {
    for (ExportTarget& t : targets) {
        try {
            check_export_target(t);
        } catch (const ConfigError& e) {
            t.force = true;
            try {
                check_export_target(t);
                forceWouldHelp = true;
            } catch (const ConfigError&) {
            }
            return e.what();
        }
    }
    return {};
}

}  // namespace

ExportOutcome runExport(const ExportRequest& r, std::shared_ptr<const Model> loaded, const ProgressFn& progress,
                        const std::function<void(const std::string&)>& phase) {
    ExportOutcome outcome;
    CreatedFolders folders;
    const fs::path& dest = r.destination;
    phase("Reading the adapter");
    LoraAdapter adapter = with_context("while reading the adapter in " + r.adapterDir.string(),
                                       [&] { return read_peft_adapter(r.adapterDir); });
    // What peft looks for as the base: the model this export uses (base_model_id.h).
    if (!r.modelPath.empty()) adapter.base_model = base_model_id(r.modelPath);
    const std::string base = fileStem(r.modelPath.filename().string());
    const std::string type = typeSuffix(r.outputs);

    const ExportTarget peft = target(r, dest / "peft-adapter", ExportKind::Peft);
    const ExportTarget merged = target(r, dest / "merged-bf16", ExportKind::Merged);
    const ExportTarget gguf = target(r, dest / "gguf" / (base + "-" + type + ".gguf"), ExportKind::Gguf, true);
    // No type in the adapter's name: rows narrower than a Q8_0 block fall back to F16
    // (gguf_lora_export.h). The base it loads onto comes along: the weights it was trained on.
    const ExportTarget ggufLora = target(r, dest / "gguf-lora" / (base + "-lora.gguf"), ExportKind::GgufLora);
    const ExportTarget ggufLoraBase =
        target(r, dest / "gguf-lora" / (base + "-base-" + type + ".gguf"), ExportKind::GgufBase);
    ExportTarget axolotl = target(r, dest / "axolotl", ExportKind::Axolotl);
    if (r.run) axolotl.read_from.push_back(r.run->data.path);

    std::vector<Step> steps;
    if (r.outputs.peft)
        steps.push_back({"PEFT adapter", {peft}, false, [&](const Model*, const ProgressFn&) {
                             write_export(peft, [&](const fs::path& dir) { write_peft_adapter(adapter, dir, modelCard(r)); });
                         }});
    if (r.outputs.merged)
        steps.push_back({"merged bf16 model", {merged}, true, [&](const Model* m, const ProgressFn& p) {
                             write_export(merged, [&](const fs::path& dir) {
                                 export_merged_model(*m, adapter, dir, {mergeBase(r)}, p);
                             });
                         }});
    if (r.outputs.gguf)
        steps.push_back({"merged GGUF", {gguf}, true, [&](const Model* m, const ProgressFn& p) {
                             folders.ensure(gguf.path.parent_path());
                             GgufExportOptions o;
                             o.type = r.outputs.ggufType;
                             o.mix = r.outputs.ggufMix;
                             o.base = mergeBase(r);
                             write_export(gguf, [&](const fs::path& file) { export_gguf_model(*m, &adapter, file, o, p); });
                         }});
    if (r.outputs.ggufLora)
        steps.push_back({"GGUF LoRA adapter and base", {ggufLora, ggufLoraBase}, true,
                         [&](const Model* m, const ProgressFn& p) {
                             folders.ensure(ggufLora.path.parent_path());
                             write_export(ggufLora, [&](const fs::path& file) {
                                 export_gguf_lora(adapter, m->config, file, {r.outputs.ggufType, m->name});
                             });
                             GgufExportOptions o;
                             o.type = r.outputs.ggufType;
                             o.mix = r.outputs.ggufMix;
                             o.base = mergeBase(r);
                             o.write_modelfile = false;
                             write_export(ggufLoraBase,
                                          [&](const fs::path& file) { export_gguf_model(*m, nullptr, file, o, p); });
                         }});

    if (r.outputs.axolotl) {
        QLS_ASSERT(!r.runDir.empty(), "the axolotl export needs a training run folder (the page offers it for runs only)");
        steps.push_back({"axolotl config", {axolotl}, false, [&](const Model*, const ProgressFn& p) {
                             write_export(axolotl, [&](const fs::path& dir) {
                                 write_axolotl_export(r.runDir, r.modelPath, dir, p);
                             });
                         }});
    }

    for (const Step& step : steps) {
        outcome.error = refusal(step.targets, outcome.forceWouldHelp);
        if (!outcome.error.empty()) {
            outcome.failedOutput = step.name;
            return outcome;
        }
    }
    std::shared_ptr<const Model> model;
    const std::size_t total = steps.size() * 1000;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& step = steps[i];
        // Each output gets an equal share of the bar; its own progress fills that share.
        const ProgressFn share = [&, i](std::size_t done, std::size_t of) {
            return progress(i * 1000 + (of ? done * 1000 / of : 0), total);
        };
        try {
            folders.ensure(dest);
            if (step.needsModel && !model) {
                phase("Loading the base model");
                std::error_code ec;
                model = loaded && fs::equivalent(loaded->path, r.modelPath, ec)
                            ? loaded
                            : std::make_shared<const Model>(load_model(r.modelPath));
            }
            phase("Writing the " + step.name);
            step.write(model.get(), share);
            for (const ExportTarget& t : step.targets) listFiles(dest, t, outcome.files);
        } catch (const Cancelled&) {
            throw;
        } catch (const std::exception& e) {
            outcome.failedOutput = step.name;
            outcome.error = e.what();
            return outcome;
        }
        report_progress(progress, (i + 1) * 1000, total);
    }
    return outcome;
}

}  // namespace qls::ui
