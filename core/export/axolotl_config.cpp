#include "core/export/axolotl_config.h"

#include <cmath>

#include "core/quant/quantized_tensor.h"
#include "core/util/error.h"

namespace qls {

namespace {

using nlohmann::ordered_json;

// transformers' BitsAndBytesConfig has no blocksize: bitsandbytes quantizes 4-bit weights in
// blocks of 64.
constexpr int kBnbBlocksize = 64;
// torch.amp.GradScaler's init_scale, which HF's fp16 training uses.
constexpr double kTorchInitialLossScale = 65536.0;

std::string scheduler_name(const LrScheduleConfig& s) {
    switch (s.type) {
        case LrScheduleType::Cosine:
            return "cosine";
        case LrScheduleType::Linear:
            return "linear";
        case LrScheduleType::Constant:
            // HF's "constant" ignores warm-up; ours warms up when asked (lr_schedule.h).
            return s.warmup_steps > 0 || s.warmup_ratio > 0 ? "constant_with_warmup" : "constant";
    }
    throw InternalError("unknown learning-rate schedule");
}

// A dataset entry in axolotl's pre-tokenized form (docs/dataset-formats/tokenized.qmd): no
// `type`, columns input_ids / attention_mask / labels.
ordered_json tokenized_dataset(const std::string& path) {
    return {{"path", path}, {"ds_type", "json"}, {"split", "train"}, {"type", nullptr}};
}

void base_settings(const TrainConfig& run, const std::string& base_model, AxolotlConfig& out) {
    ordered_json& c = out.config;
    c["base_model"] = base_model;
    if (run.model.extension() == ".gguf")
        out.differences.push_back(
            "The run's base is a GGUF file (" + run.model.string() +
            "); axolotl loads Hugging Face safetensors models only: set base_model to the Hub ID or "
            "folder of the same model in safetensors form" +
            (run.base.gguf_blocks
                 ? ". The run trained on the GGUF's own quantized blocks; axolotl quantizes the "
                   "16-bit weights with bitsandbytes instead, so the frozen base differs slightly."
                 : "."));
    if (run.base.quant) {
        c["adapter"] = "qlora";
        c["load_in_4bit"] = true;
        // axolotl builds its BitsAndBytesConfig with double quant on and NF4, then applies these
        // (src/axolotl/loaders/model.py); both are written so the config says what it does.
        c["bnb_config_kwargs"] = {{"bnb_4bit_quant_type", std::string(quant_type_name(*run.base.quant))},
                                  {"bnb_4bit_use_double_quant", run.base.double_quant}};
        if (run.base.blocksize != kBnbBlocksize)
            out.differences.push_back("The run quantized its base in blocks of " +
                                      std::to_string(run.base.blocksize) +
                                      "; bitsandbytes (which axolotl uses) always uses blocks of 64.");
    } else {
        c["adapter"] = "lora";
    }
}

void lora_settings(const TrainConfig& run, AxolotlConfig& out) {
    ordered_json& c = out.config;
    const LoraConfig& l = run.lora;
    c["lora_r"] = l.rank;
    // axolotl's lora_alpha is an integer.
    const double alpha = std::round(l.alpha);
    c["lora_alpha"] = static_cast<std::int64_t>(alpha);
    if (alpha != l.alpha)
        out.differences.push_back(str_cat(
            "The run's LoRA alpha is ", l.alpha, "; axolotl accepts only whole numbers, so the config says ",
            static_cast<std::int64_t>(alpha), " and the LoRA scaling differs by ", alpha / l.alpha, "x."));
    c["lora_dropout"] = l.dropout;
    ordered_json targets = ordered_json::array();
    for (LoraTarget t : l.targets) targets.push_back(std::string(lora_target_name(t)));
    c["lora_target_modules"] = targets;
    if (l.rslora) c["peft_use_rslora"] = true;
    if (l.seed != run.seed)
        out.differences.push_back(str_cat("The run initialized LoRA with its own seed (lora.seed ", l.seed,
                                          "); axolotl initializes LoRA from the global seed (", run.seed,
                                          ")."));
}

void data_settings(const TrainConfig& run, const AxolotlDataFiles& files, AxolotlConfig& out) {
    ordered_json& c = out.config;
    c["sequence_len"] = run.data.max_seq_len;
    c["sample_packing"] = run.data.packing;
    if (run.data.packing) {
        // Packed examples must not attend to each other, as in our packed rows: axolotl's
        // multipack does that with flash attention's variable-length kernels.
        c["flash_attention"] = true;
        // Our validation pass does not pack (batch_sampler.h make_eval_batches).
        c["eval_sample_packing"] = false;
    }
    // Already applied: the masks are in the labels (axolotl ignores it for tokenized data).
    c["train_on_inputs"] = run.data.train_on_inputs;
    c["datasets"] = ordered_json::array({tokenized_dataset(files.train)});
    if (!files.valid.empty()) c["test_datasets"] = ordered_json::array({tokenized_dataset(files.valid)});
    // Our split is already made (the files above); axolotl must not split again.
    c["val_set_size"] = 0.0;
    c["dataset_prepared_path"] = "last_run_prepared";
}

// axolotl (src/axolotl/core/builders/base.py) warms up for 3% of the steps when neither key is
// set, rounds warmup_ratio x steps down where HF (and our run) round up, and turns 1 warm-up
// step into 2. So the steps are written whenever the run's are known, 0 included.
void warmup_settings(const TrainConfig& run, AxolotlConfig& out) {
    const LrScheduleConfig& s = run.optim.schedule;
    std::int64_t steps = s.warmup_steps;
    if (steps == 0 && s.warmup_ratio > 0) {
        if (run.max_steps == 0) {
            // The total depends on the dataset and the GPU count: only the ratio carries over.
            out.config["warmup_ratio"] = s.warmup_ratio;
            out.differences.push_back(str_cat("The run warmed up for ceil(", s.warmup_ratio,
                                              " x total steps) steps; axolotl rounds that product down."));
            return;
        }
        steps = static_cast<std::int64_t>(std::ceil(s.warmup_ratio * static_cast<double>(run.max_steps)));
    }
    out.config["warmup_steps"] = steps;  // axolotl refuses warmup_steps and warmup_ratio together
    if (steps == 1)
        out.differences.push_back("The run warmed up for 1 step; axolotl turns a warm-up of 1 step into 2.");
}

// Evaluation, checkpoints and early stopping. Early stopping needs an evaluation every N steps
// (ours can stop only between evaluations) and, in axolotl, checkpoints at a multiple of it:
// like our run, it ends with the best evaluation's adapter (load_best_model_at_end).
void eval_and_save_settings(const TrainConfig& run, bool has_valid, AxolotlConfig& out) {
    ordered_json& c = out.config;
    const bool early_stop = run.early_stop_patience > 0 && has_valid && run.eval_every > 0;
    if (run.early_stop_patience > 0 && !early_stop)
        out.differences.push_back(
            "The run had early stopping but evaluated only at its end or had no validation "
            "examples, so it never stopped early; the config leaves early stopping out.");
    if (has_valid) {
        if (run.eval_every > 0) {
            c["eval_strategy"] = "steps";
            c["eval_steps"] = run.eval_every;
        } else {
            c["evals_per_epoch"] = 1;
            out.differences.push_back(
                "The run evaluated only at its end (eval_every 0); axolotl has no such "
                "setting, so the config evaluates once per epoch.");
        }
    }
    if (early_stop) {
        c["early_stopping_patience"] = run.early_stop_patience;
        if (run.early_stop_min_delta > 0)
            out.differences.push_back(str_cat("The run's early stopping counted only improvements above ",
                                              run.early_stop_min_delta,
                                              " (early_stop_min_delta); axolotl counts any improvement."));
    }
    std::int64_t save_steps = run.save_every;
    if (early_stop && (save_steps == 0 || save_steps % run.eval_every != 0)) {
        save_steps = run.eval_every;
        out.differences.push_back(
            str_cat("axolotl's early stopping needs checkpoints at a multiple of the evaluation "
                    "interval: the config saves every ",
                    save_steps, " steps (the run: ",
                    run.save_every == 0 ? std::string("only at the end") : str_cat("every ", run.save_every),
                    "). The training itself is unchanged."));
    }
    if (save_steps > 0) {
        c["save_strategy"] = "steps";
        c["save_steps"] = save_steps;
        c["save_total_limit"] = run.keep_checkpoints;
    } else {
        c["save_strategy"] = "no";  // the final adapter is saved all the same
    }
}

void training_settings(const TrainConfig& run, bool has_valid, AxolotlConfig& out) {
    ordered_json& c = out.config;
    c["micro_batch_size"] = run.micro_batch;
    c["gradient_accumulation_steps"] = run.grad_accum;
    if (run.max_steps > 0)
        c["max_steps"] = run.max_steps;
    else
        c["num_epochs"] = run.epochs;
    const AdamWConfig& o = run.optim.adamw;
    // Paged state when the run paged its optimizer state (formats.md §4); torch's AdamW, which
    // our optimizer follows step for step, otherwise.
    const bool paged = run.optim.paging.device_budget_bytes > 0;
    c["optimizer"] = paged ? "paged_adamw_32bit" : "adamw_torch";
    if (paged && o.weight_decay > 0)
        out.differences.push_back(
            "paged_adamw_32bit (bitsandbytes) applies weight decay after the Adam step, the run applied it "
            "before, as torch's AdamW does: the updates differ by a term of order lr^2 * weight_decay.");
    c["learning_rate"] = o.lr;
    c["lr_scheduler"] = scheduler_name(run.optim.schedule);
    warmup_settings(run, out);
    c["adam_beta1"] = o.beta1;
    c["adam_beta2"] = o.beta2;
    c["adam_epsilon"] = o.eps;
    c["weight_decay"] = o.weight_decay;
    c["max_grad_norm"] = o.max_grad_norm;  // 0: no clipping, in both

    if (run.compute_dtype == "auto") {
        c["bf16"] = "auto";  // bf16 where the GPU has it; ours picks per device too (backend.h "Precision")
    } else {
        c["bf16"] = run.compute_dtype == "bf16";
        c["fp16"] = run.compute_dtype == "fp16";  // neither: fp32
    }
    if (run.compute_dtype == "fp16" && run.initial_loss_scale != kTorchInitialLossScale)
        out.differences.push_back(str_cat("The run started fp16 loss scaling at ", run.initial_loss_scale,
                                          "; torch's GradScaler (axolotl's) starts at 65536."));
    c["gradient_checkpointing"] = run.checkpointing;
    c["seed"] = run.seed;

    eval_and_save_settings(run, has_valid, out);
    c["output_dir"] = "./outputs/adapter";
}

}  // namespace

AxolotlConfig axolotl_config(const TrainConfig& run, const std::string& base_model,
                             const AxolotlDataFiles& files) {
    AxolotlConfig out;
    out.config = ordered_json::object();
    base_settings(run, base_model, out);
    lora_settings(run, out);
    data_settings(run, files, out);
    training_settings(run, !files.valid.empty(), out);
    return out;
}

}  // namespace qls
