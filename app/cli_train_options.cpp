#include "app/cli_train_options.h"

#include <limits>
#include <sstream>

#include "core/backend/backend_registry.h"

namespace qls::cli {

namespace {
// A size given in units of 2^shift bytes (MiB: 20, KiB: 10): at least 0 and small enough that
// the byte count fits, instead of a negative or wrapped-around number.
std::int64_t size_option(const char* name, const std::string& text, int shift) {
    const auto v = parse_number<std::int64_t>(name, text);
    if (v < 0 || v > (std::numeric_limits<std::int64_t>::max() >> shift))
        throw UsageError(str_cat("--", name, ": expected 0 to ", std::numeric_limits<std::int64_t>::max() >> shift,
                                 ", got ", text));
    return v << shift;
}
}  // namespace


const std::vector<std::string>& train_flags() {
    static const std::vector<std::string> f = {"train-on-inputs", "packing", "drop-long", "stop-on-bad-data",
                                               "no-double-quant", "rslora", "no-gradient-checkpointing",
                                               "requantize-gguf"};
    return f;
}

const std::vector<std::string>& train_options() {
    static const std::vector<std::string> o = {
        "model", "data", "valid-data", "valid-fraction", "form", "template", "field", "max-seq-len", "quant",
        "blocksize", "rank", "alpha", "dropout", "targets", "lr", "weight-decay", "max-grad-norm", "adam-beta1",
        "adam-beta2", "adam-eps", "schedule", "warmup-steps", "warmup-ratio", "micro-batch", "grad-accum", "epochs",
        "max-steps", "seed", "eval-every", "save-every", "keep-checkpoints", "early-stop-patience",
        "early-stop-min-delta", "optimizer-budget-mib", "page-kib", "device-limit-mib", "device", "compute-dtype", "initial-loss-scale",
        "offload-checkpoints"};
    return o;
}

void apply_train_options(const Args& a, TrainConfig& c) {
    auto num = [&]<typename T>(const char* name, T& out) {
        if (auto v = a.option(name)) out = parse_number<T>(name, *v);
    };
    if (auto v = a.option("model")) c.model = *v;
    if (auto v = a.option("data")) c.data.path = *v;
    if (auto v = a.option("valid-data")) c.data.valid_path = *v;
    num("valid-fraction", c.data.valid_fraction);
    if (auto v = a.option("form")) {
        auto f = parse_data_form(*v);
        if (!f) throw UsageError("--form: unknown form '" + *v + "'");
        c.data.form = *f;
    }
    if (auto v = a.option("template")) {
        auto t = parse_template_kind(*v);
        if (!t) throw UsageError("--template: unknown template '" + *v + "'");
        c.data.chat_template = *t;
    }
    for (const std::string& f : a.options("field")) {
        const auto eq = f.find('=');
        if (eq == std::string::npos) throw UsageError("--field: expected NAME=COLUMN, got '" + f + "'");
        const std::string name = f.substr(0, eq), column = f.substr(eq + 1);
        FieldMapping& m = c.data.mapping;
        std::string* slot = name == "instruction" ? &m.instruction : name == "input" ? &m.input
                          : name == "output" ? &m.output : name == "messages" ? &m.messages
                          : name == "prompt" ? &m.prompt : name == "completion" ? &m.completion
                          : name == "text" ? &m.text : nullptr;
        if (!slot) throw UsageError("--field: unknown field '" + name + "'");
        *slot = column;
    }
    num("max-seq-len", c.data.max_seq_len);
    if (a.flag("train-on-inputs")) c.data.train_on_inputs = true;
    if (a.flag("packing")) c.data.packing = true;
    if (a.flag("drop-long")) c.data.overlong = OverlongPolicy::Drop;
    if (a.flag("stop-on-bad-data")) c.data.bad_policy = BadDataPolicy::Stop;
    if (auto v = a.option("quant"); v && !parse_base_quant(*v, c.base.quant))
        throw UsageError("--quant: expected nf4, fp4 or none, got '" + *v + "'");
    if (a.flag("no-double-quant")) c.base.double_quant = false;
    if (a.flag("requantize-gguf")) c.base.gguf_blocks = false;
    num("blocksize", c.base.blocksize);
    num("rank", c.lora.rank);
    num("alpha", c.lora.alpha);
    num("dropout", c.lora.dropout);
    if (a.flag("rslora")) c.lora.rslora = true;
    if (auto v = a.option("targets")) {
        c.lora.targets.clear();
        std::istringstream in(*v);
        for (std::string t; std::getline(in, t, ',');) c.lora.targets.push_back(parse_lora_target(t));
    }
    num("lr", c.optim.adamw.lr);
    num("weight-decay", c.optim.adamw.weight_decay);
    num("max-grad-norm", c.optim.adamw.max_grad_norm);
    num("adam-beta1", c.optim.adamw.beta1);
    num("adam-beta2", c.optim.adamw.beta2);
    num("adam-eps", c.optim.adamw.eps);
    if (auto v = a.option("schedule")) c.optim.schedule.type = parse_lr_schedule(*v);
    num("warmup-steps", c.optim.schedule.warmup_steps);
    num("warmup-ratio", c.optim.schedule.warmup_ratio);
    num("micro-batch", c.micro_batch);
    num("grad-accum", c.grad_accum);
    num("epochs", c.epochs);
    num("max-steps", c.max_steps);
    num("seed", c.seed);
    num("eval-every", c.eval_every);
    num("save-every", c.save_every);
    num("keep-checkpoints", c.keep_checkpoints);
    num("early-stop-patience", c.early_stop_patience);
    num("early-stop-min-delta", c.early_stop_min_delta);
    if (a.flag("no-gradient-checkpointing")) c.checkpointing = false;
    if (auto v = a.option("offload-checkpoints")) {
        if (*v != "off" && *v != "on" && *v != "auto")
            throw UsageError("--offload-checkpoints: expected off, on or auto, got '" + *v + "'");
        c.offload_checkpoints = *v;
    }
    if (auto v = a.option("optimizer-budget-mib")) c.optim.paging.device_budget_bytes = size_option("optimizer-budget-mib", *v, 20);
    if (auto v = a.option("page-kib")) c.optim.paging.page_bytes = size_option("page-kib", *v, 10);
    if (auto v = a.option("device")) {
        parse_device(*v);  // refused here, before anything loads
        c.device = *v;
    }
    if (auto v = a.option("compute-dtype")) {
        check_compute_dtype(*v);
        c.compute_dtype = *v;
    }
    if (auto v = a.option("initial-loss-scale")) c.initial_loss_scale = parse_number<double>("initial-loss-scale", *v);
    if (auto v = a.option("device-limit-mib")) c.device_limit_bytes = size_option("device-limit-mib", *v, 20);
    // 0 means "from --epochs" in a run.json; on the command line it is a mistake.
    if (auto v = a.option("max-steps"); v && c.max_steps == 0)
        throw UsageError("--max-steps: expected at least 1 (leave it out to train for --epochs), got 0");
}

}  // namespace qls::cli
