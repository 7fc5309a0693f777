// qlora export RUN_DIR [--peft|--merged|--gguf|--gguf-lora|--gguf-base] --out DIR
// qlora export RUN_DIR --axolotl DIR
#include <cstdio>
#include <filesystem>

#include "app/cli_commands.h"
#include "app/cli_progress.h"
#include "core/export/axolotl_export.h"
#include "core/export/base_model_id.h"
#include "core/export/export_destination.h"
#include "core/export/gguf_lora_export.h"
#include "core/export/gguf_model_export.h"
#include "core/export/merged_export.h"
#include "core/export/ollama_modelfile.h"
#include "core/export/peft_adapter.h"
#include "core/export/run_model_card.h"
#include "core/io/ggml_type.h"
#include "core/model/model_loader.h"
#include "core/train/trainer.h"

namespace qls::cli {

const char* const kExportUsage =
    "usage: qlora export RUN_DIR|ADAPTER_DIR [--peft|--merged|--gguf|--gguf-lora|--gguf-base] --out PATH\n"
    "                    [options]\n"
    "       qlora export RUN_DIR --axolotl DIR [--model PATH] [--force]\n"
    "  RUN_DIR        a training run (its adapter/ folder and run.json are used), one of its\n"
    "                 checkpoints/step-N folders, or any PEFT LoRA folder together with --model\n"
    "  --peft         a PEFT adapter folder that peft loads unchanged (default)\n"
    "  --merged       the base with the adapter merged, bf16 safetensors + config + tokenizer\n"
    "  --gguf         the merged model as one GGUF file for llama.cpp, plus an Ollama Modelfile\n"
    "                 named after it (OUT.gguf -> OUT.Modelfile)\n"
    "  --gguf-lora    the adapter as a GGUF LoRA for llama.cpp's --lora\n"
    "  --gguf-base    the base model alone as one GGUF file, the one to load --gguf-lora onto\n"
    "                 (with --merge-onto quantized: the 4-bit weights the adapter was trained on)\n"
    "  --out PATH     destination folder (--peft, --merged) or file (--gguf, --gguf-lora, --gguf-base):\n"
    "                 new, empty, or an earlier export of the same kind (updated; other files kept);\n"
    "                 never inside the run, the adapter or the base model\n"
    "  --axolotl DIR  the run handed to axolotl for several GPUs: config.yml, its dataset pre-tokenized\n"
    "                 as the run trained on it, and a README with the launch commands (DeepSpeed, FSDP)\n"
    "  --force        write into a destination holding other things: only files of the names the\n"
    "                 export writes are replaced, everything else is kept\n"
    "  --model PATH   the base model (default: the run's)\n"
    "  --type T       GGUF tensor type: f16 (default), bf16, q8_0, f32, or llama.cpp's mixes\n"
    "                 q4_k_m, q5_k_m, q6_k (per-tensor types as llama-quantize chooses them)\n"
    "  --merge-onto original|quantized\n"
    "                 merge into (--gguf-base: write) the original weights, or the 4-bit weights the\n"
    "                 adapter was trained against, dequantized (default: quantized when the run used 4-bit;\n"
    "                 a GGUF base trained on its own blocks merges onto what they decode to either way)\n";

namespace {

void set_gguf_type(GgufExportOptions& o, const std::string& name) {
    if (name == "f16") o.type = GgmlType::F16;
    else if (name == "bf16") o.type = GgmlType::BF16;
    else if (name == "q8_0") o.type = GgmlType::Q8_0;
    else if (name == "f32") o.type = GgmlType::F32;
    else if (name == "q4_k_m") o.mix = GgufQuantMix::Q4_K_M;
    else if (name == "q5_k_m") o.mix = GgufQuantMix::Q5_K_M;
    else if (name == "q6_k") o.mix = GgufQuantMix::Q6_K;
    else throw UsageError("--type: expected f16, bf16, q8_0, f32, q4_k_m, q5_k_m or q6_k, got '" + name + "'");
}

// The run's settings and data for axolotl; the run need not have finished.
int export_axolotl(const Args& args, const std::filesystem::path& source, const std::filesystem::path& out) {
    const std::optional<RunAdapter> from_run = run_adapter_of(source);
    if (!from_run)
        throw UsageError("--axolotl needs a training run folder (holding run.json), got '" + source.string() + "'");
    const TrainConfig run = Trainer::config_of_run(from_run->run_dir);
    const std::filesystem::path model_path = args.option("model").value_or(run.model.string());
    const ExportTarget target{
        out, ExportKind::Axolotl, false, {from_run->run_dir, model_path, run.data.path}, args.flag("force")};
    AxolotlExportSummary s;
    write_export(target, [&](const std::filesystem::path& dir) {
        s = write_axolotl_export(from_run->run_dir, model_path, dir, terminal_progress("tokenizing"));
    });
    std::printf("axolotl config: %s (%zu training, %zu validation examples; %zu difference(s) in README.md)\n",
                out.c_str(), s.train, s.valid, s.differences.size());
    return 0;
}

}  // namespace

int run_export(const std::vector<std::string>& raw) {
    const Args args(raw, {"peft", "merged", "gguf", "gguf-lora", "gguf-base", "force"},
                    {"out", "model", "type", "merge-onto", "axolotl"});
    args.expect_positional(1);
    if (const auto dir = args.option("axolotl")) return export_axolotl(args, args.positional()[0], *dir);
    const auto out = args.option("out");
    if (!out) throw UsageError("--out is required");
    const int kinds = args.flag("peft") + args.flag("merged") + args.flag("gguf") + args.flag("gguf-lora") +
                      args.flag("gguf-base");
    if (kinds > 1) throw UsageError("choose one of --peft, --merged, --gguf, --gguf-lora, --gguf-base");
    const std::filesystem::path source = args.positional()[0];
    const bool is_run = std::filesystem::exists(source / "run.json");
    // A run and a checkpoint keep their adapter in adapter/.
    const bool nested = is_run || std::filesystem::exists(source / "adapter" / "adapter_config.json");
    const std::filesystem::path adapter_dir = nested ? source / "adapter" : source;
    if (is_run && !std::filesystem::exists(adapter_dir / "adapter_config.json"))
        throw ConfigError("run '" + source.string() + "' has no final adapter yet: let it finish or stop it "
                          "(qlora train --resume continues it)");
    LoraAdapter adapter = read_peft_adapter(adapter_dir);
    // A run, its adapter/ or one of its checkpoints: the run supplies the model, the 4-bit base
    // and the model card's figures.
    const std::optional<RunAdapter> from_run = run_adapter_of(source);
    std::optional<TrainConfig> run;
    if (from_run) run = Trainer::config_of_run(from_run->run_dir);
    std::filesystem::path model_path;
    if (auto m = args.option("model")) model_path = *m;
    else if (run) model_path = run->model;
    else throw UsageError("--model is required when exporting a bare adapter folder");
    // What the adapter records as its base is what peft will look for (base_model_id.h).
    adapter.base_model = base_model_id(model_path);

    MergeBase base = MergeBase::original();
    const std::string onto = args.option("merge-onto").value_or(run && run->base.quant ? "quantized" : "original");
    if (onto == "quantized") {
        if (!run || !run->base.quant)
            throw UsageError("--merge-onto quantized needs a run trained on a 4-bit base");
        base = MergeBase::trained(run->base);
    } else if (onto != "original") {
        throw UsageError("--merge-onto: expected original or quantized, got '" + onto + "'");
    }

    ExportTarget target;
    target.path = *out;
    target.force = args.flag("force");
    target.read_from = {source, adapter_dir, model_path};
    if (from_run) target.read_from.push_back(from_run->run_dir);
    if (args.flag("gguf-lora")) {
        target.kind = ExportKind::GgufLora;
        check_export_target(target);
        const Model model = load_model(model_path);
        write_export(target, [&](const std::filesystem::path& file) {
            export_gguf_lora(adapter, model.config, file, {GgmlType::F32, model.name});
        });
        std::printf("GGUF LoRA adapter: %s (use with llama.cpp --lora)\n", out->c_str());
        return 0;
    }
    if (args.flag("merged") || args.flag("gguf") || args.flag("gguf-base")) {
        const bool base_only = args.flag("gguf-base");
        target.kind = args.flag("merged") ? ExportKind::Merged : base_only ? ExportKind::GgufBase : ExportKind::Gguf;
        target.modelfile = target.kind != ExportKind::Merged;
        check_export_target(target);  // before the minutes a load takes
        const Model model = load_model(model_path);
        if (args.flag("merged")) {
            MergedExportSummary s;
            write_export(target, [&](const std::filesystem::path& dir) {
                s = export_merged_model(model, adapter, dir, {base, 5'000'000'000ull}, terminal_progress("merging"));
            });
            std::printf("merged model: %s (%zu adapted layers, %zu shard(s), %.1f MB)\n", out->c_str(), s.merged,
                        s.shards, double(s.total_bytes) / 1e6);
        } else {
            GgufExportOptions o;
            set_gguf_type(o, args.option("type").value_or("f16"));
            o.base = base;
            o.name = model.name;
            write_export(target, [&](const std::filesystem::path& file) {
                export_gguf_model(model, base_only ? nullptr : &adapter, file, o, terminal_progress("writing GGUF"));
            });
            std::printf("%s GGUF: %s (Ollama: ollama create NAME -f %s)\n", base_only ? "base" : "merged", out->c_str(),
                        ollama_modelfile_path(*out).c_str());
        }
        return 0;
    }
    const ModelCard card = run ? run_model_card(*run, *from_run) : ModelCard{};
    target.kind = ExportKind::Peft;
    write_export(target, [&](const std::filesystem::path& dir) { write_peft_adapter(adapter, dir, card); });
    std::printf("PEFT adapter: %s\n", out->c_str());
    return 0;
}

}  // namespace qls::cli
