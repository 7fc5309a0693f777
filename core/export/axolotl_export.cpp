#include "core/export/axolotl_export.h"

#include <sstream>

#include "core/data/batch.h"
#include "core/data/dataset.h"
#include "core/export/base_model_id.h"
#include "core/export/yaml_writer.h"
#include "core/model/model_loader.h"
#include "core/tokenizer/tokenizer.h"
#include "core/train/run_folder.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace qls {

namespace {

using nlohmann::ordered_json;

constexpr const char* kTrainFile = "train.jsonl";
constexpr const char* kValidFile = "valid.jsonl";

void write_records(const std::filesystem::path& path, const std::vector<TokenizedExample>& examples) {
    AtomicFileWriter out(path);
    for (const TokenizedExample& ex : examples) out.write(axolotl_record(ex).dump() + "\n");
    out.commit();
}

// How a step of `micro` x `accum` examples is kept on 2, 4 and 8 GPUs: accumulation shrinks
// first, then the micro-batch.
std::string batch_examples(std::int64_t micro, std::int64_t accum) {
    std::string s;
    const std::int64_t total = micro * accum;
    for (const std::int64_t gpus : {2, 4, 8}) {
        if (total % gpus != 0) continue;
        const std::int64_t per_gpu = total / gpus;
        const std::int64_t m = per_gpu % micro == 0 ? micro : per_gpu;
        s += str_cat(s.empty() ? ": " : "; ", gpus, " GPUs: micro_batch_size ", m,
                     ", gradient_accumulation_steps ", per_gpu / m);
    }
    return s.empty() ? ", or scale the learning rate with the batch" : s;
}

std::string bullet_list(const std::vector<std::string>& items) {
    std::string s;
    for (const std::string& item : items) s += "- " + item + "\n";
    return s;
}

}  // namespace

ordered_json axolotl_record(const TokenizedExample& example) {
    QLS_CHECK(InternalError, example.ids.size() == example.trained.size(), "example of ", example.ids.size(),
              " tokens has ", example.trained.size(), " labels");
    ordered_json labels = ordered_json::array();
    for (std::size_t i = 0; i < example.ids.size(); ++i)
        labels.push_back(example.trained[i] ? example.ids[i] : kIgnoreIndex);
    return {{"input_ids", example.ids},
            {"attention_mask", std::vector<int>(example.ids.size(), 1)},
            {"labels", std::move(labels)}};
}

std::string axolotl_readme(const TrainConfig& run, const AxolotlConfig& config,
                           const AxolotlExportSummary& summary) {
    const ordered_json& c = config.config;
    std::ostringstream s;
    s << "# Training this run with axolotl on several GPUs\n\n"
      << "Exported by QLoRA Studio from the run `" << run.run_dir.string() << "`: the same base ("
      << c.at("base_model").get<std::string>() << "), " << c.at("adapter").get<std::string>()
      << " settings, data, batch, schedule and optimizer, for axolotl (DeepSpeed or FSDP across GPUs).\n\n"
      << "- `config.yml`: the axolotl config.\n"
      << "- `" << kTrainFile << "`: " << summary.train << " training examples";
    if (summary.valid > 0) s << "; `" << kValidFile << "`: " << summary.valid << " validation examples";
    s << " (" << summary.skipped << " records the run left out are left out here too).\n\n"
      << "The examples are pre-tokenized with the base model's tokenizer (`input_ids`, `attention_mask`, "
         "`labels`, -100 where the loss is masked): exactly the tokens and masks the run trained on, with "
         "its prompt template ("
      << (run.data.chat_template == TemplateKind::ModelTemplate
              ? std::string("the model's own")
              : std::string(template_kind_name(run.data.chat_template)))
      << "), train_on_inputs " << (run.data.train_on_inputs ? "on" : "off") << ", truncation at "
      << run.data.max_seq_len
      << " tokens and validation split already applied. To change the data or the template, change the run "
         "in QLoRA Studio and export again.\n\n";
    const std::string base = c.at("base_model").get<std::string>();
    if (!is_hub_id(base))
        s << "`base_model` is a local path (" << base
          << "): the GPU machines need the same model there, or change it to where they have it.\n\n";
    s << "## Launch\n\n"
      << "Run these from this folder (the config names its files relative to it), on a machine with CUDA "
         "GPUs and axolotl installed (`pip install axolotl`, see axolotl's installation guide for the "
         "matching torch build):\n\n"
      << "    axolotl preprocess config.yml      # optional: reads and checks the dataset\n"
      << "    axolotl train config.yml           # all GPUs of this machine, data parallel\n"
      << "    # the same through accelerate:\n"
      << "    accelerate launch -m axolotl.cli.train config.yml\n\n"
      << "DeepSpeed (shards optimizer state and gradients; ZeRO-3 also the weights):\n\n"
      << "    axolotl fetch deepspeed_configs\n"
      << "    axolotl train config.yml --deepspeed deepspeed_configs/zero2.json\n"
      << "    axolotl train config.yml --deepspeed deepspeed_configs/zero3_bf16.json\n\n"
      << "FSDP (with QLoRA: axolotl docs/fsdp_qlora.qmd), add to `config.yml`:\n\n"
      << "    fsdp_version: 2\n"
      << "    fsdp_config:\n"
      << "      offload_params: false\n"
      << "      cpu_ram_efficient_loading: true\n"
      << "      auto_wrap_policy: TRANSFORMER_BASED_WRAP\n"
      << "      transformer_layer_cls_to_wrap: LlamaDecoderLayer\n"
      << "      state_dict_type: FULL_STATE_DICT\n"
      << "      reshard_after_forward: true\n\n"
      << "Several machines: the same command on each under `torchrun` or `accelerate launch` with "
         "`--num_machines`, `--machine_rank` and `--main_process_ip` (axolotl docs/multi-node.qmd).\n\n"
      << "### The batch on several GPUs\n\n"
      << "Each GPU takes its own micro-batches, so an optimizer step sees micro_batch_size x "
         "gradient_accumulation_steps x GPUs examples (rows when packing). The run's step saw "
      << run.micro_batch << " x " << run.grad_accum << " = " << run.micro_batch * run.grad_accum
      << ". To keep that batch (and the meaning of the learning rate";
    if (run.max_steps > 0) s << " and of max_steps";
    s << ") on N GPUs, keep micro_batch_size x gradient_accumulation_steps x N at "
      << run.micro_batch * run.grad_accum << batch_examples(run.micro_batch, run.grad_accum) << ".\n\n"
      << "## Differences from the run\n\n"
      << "- The order of examples: HF's sampler shuffles with `seed` (" << run.seed
      << ") by its own algorithm, so batches hold other examples than the run's did.\n"
      << "- Settings that only shaped how the run used one device (device, optimizer paging budget and "
         "page size, device limit) have no counterpart here.\n"
      << bullet_list(summary.differences) << "\n## Back into QLoRA Studio\n\n"
      << "axolotl saves the adapter in `" << c.at("output_dir").get<std::string>()
      << "/` (checkpoints in its `checkpoint-N/` folders): `adapter_config.json` and "
         "`adapter_model.safetensors`, the PEFT format the studio reads. Open that folder in the "
         "Playground, Inspect or Export pages with the same base model, or from the command line:\n\n"
      << "    qlora generate " << run.model.string()
      << " --adapter outputs/adapter --chat --prompt \"Hello\"\n"
      << "    qlora export outputs/adapter --model " << run.model.string() << " --gguf --out merged.gguf\n\n"
      << "An adapter with extra fully trained modules (`lora_modules_to_save`, e.g. after adding "
         "tokens), DoRA or per-module ranks is refused with the reason: the studio applies plain LoRA "
         "only.\n";
    return s.str();
}

AxolotlExportSummary write_axolotl_export(const std::filesystem::path& run_dir,
                                          const std::filesystem::path& model,
                                          const std::filesystem::path& dir, const ProgressFn& progress) {
    const std::string run_json = (run_dir / "run.json").string();
    const nlohmann::json stored = RunFolder::read_run_json(run_dir);
    QLS_CHECK(FormatError, stored.is_object() && stored.contains("config"), run_json,
              ": no \"config\": not a training run's run.json");
    TrainConfig run = with_context(run_json, [&] { return train_config_from_json(stored.at("config")); });
    run.run_dir = run_dir;
    run.model = model;
    QLS_CHECK(ConfigError,
              stored.value("dataset_fingerprint", nlohmann::json()) == fingerprint(run.data.path),
              "the dataset '", run.data.path.string(), "' changed since the run '", run_dir.string(),
              "' started: an export of it would not be the data the run trained on");

    const Tokenizer tokenizer = load_tokenizer_from(model);
    const PreparedDataset data = prepare_dataset(run.data, tokenizer, {}, progress);
    AxolotlDataFiles files;
    if (!data.valid.empty()) files.valid = kValidFile;
    const AxolotlConfig config = axolotl_config(run, base_model_id(model), files);
    AxolotlExportSummary summary{data.train.size(), data.valid.size(), data.issues.size(),
                                 config.differences};

    std::filesystem::create_directories(dir);
    write_file_atomic(dir / "config.yml",
                      "# axolotl config exported by QLoRA Studio from " + run_dir.string() +
                          "; README.md says how to launch it and how it differs from the run.\n" +
                          to_block_yaml(config.config));
    write_records(dir / kTrainFile, data.train);
    if (!data.valid.empty()) write_records(dir / kValidFile, data.valid);
    write_file_atomic(dir / "README.md", axolotl_readme(run, config, summary));
    return summary;
}

}  // namespace qls
