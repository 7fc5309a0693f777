#include "core/train/train_config.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <map>
#include <set>

#include "core/backend/backend_registry.h"
#include "core/quant/quantize_4bit.h"

namespace qls {

ConfigProblems TrainConfig::problems() const {
    ConfigProblems p;
    p.merge(lora.problems());
    p.merge(optim.adamw.problems());
    p.merge(optim.schedule.problems());
    p.merge(optim.paging.problems());
    p.require(micro_batch >= 1 && micro_batch <= 4096, "micro_batch", "must be from 1 to 4096; got ", micro_batch);
    p.require(grad_accum >= 1, "grad_accum", "must be 1 or more; got ", grad_accum);
    p.require(data.max_seq_len >= 8 && data.max_seq_len <= 1 << 20, "data.max_seq_len",
              "must be from 8 to 1048576 tokens; got ", data.max_seq_len);
    p.require(max_steps != 0 || (epochs > 0 && std::isfinite(epochs)), "epochs",
              "must be greater than 0 when max_steps is 0 (from epochs); ", given(epochs));
    p.require(max_steps >= 0, "max_steps", "must be 0 (from epochs) or more; got ", max_steps);
    p.require(eval_every >= 0, "eval_every", "must be 0 (only at the end) or more; got ", eval_every);
    p.require(save_every >= 0, "save_every", "must be 0 (only at the end) or more; got ", save_every);
    p.require(keep_checkpoints >= 1, "keep_checkpoints", "must be 1 or more; got ", keep_checkpoints);
    p.require(early_stop_patience >= 0, "early_stop_patience", "must be 0 (off) or more; got ", early_stop_patience);
    p.require(std::isfinite(early_stop_min_delta) && early_stop_min_delta >= 0, "early_stop_min_delta",
              "must be 0 or more; ", given(early_stop_min_delta));
    p.require(data.valid_fraction >= 0 && data.valid_fraction < 1, "data.valid_fraction",
              "must be at least 0 and below 1; ", given(data.valid_fraction));
    if (base.quant) p.capture("base.blocksize", [&] { check_quant_blocksize(base.blocksize); });
    p.capture("device", [&] { parse_device(device); });
    p.capture("compute_dtype", [&] { check_compute_dtype(compute_dtype); });
    p.require(offload_checkpoints == "off" || offload_checkpoints == "on" || offload_checkpoints == "auto",
              "offload_checkpoints", "must be off, on or auto; got '", offload_checkpoints, "'");
    p.require(checkpointing || offload_checkpoints != "on", "offload_checkpoints",
              "on needs gradient_checkpointing (without it every activation stays on the device)");
    p.require(device_limit_bytes >= 0, "device_limit_bytes", "must be 0 (no limit) or more; got ", device_limit_bytes);
    p.require(std::isfinite(initial_loss_scale) && initial_loss_scale >= 1, "initial_loss_scale",
              "must be a number, 1 or more; ", given(initial_loss_scale));
    return p;
}

void TrainConfig::validate() const { problems().throw_if_any(); }

namespace {

std::string quant_name(const BaseWeightsOptions& b) {
    return b.quant ? std::string(quant_type_name(*b.quant)) : "none";
}

}  // namespace

nlohmann::json to_json(const TrainConfig& c) {
    nlohmann::json targets = nlohmann::json::array();
    for (LoraTarget t : c.lora.targets) targets.push_back(lora_target_name(t));
    return {
        {"model", c.model.string()},
        {"base", {{"quant", quant_name(c.base)}, {"double_quant", c.base.double_quant}, {"blocksize", c.base.blocksize},
                  {"gguf_blocks", c.base.gguf_blocks}}},
        {"lora", {{"r", c.lora.rank}, {"alpha", c.lora.alpha}, {"dropout", c.lora.dropout}, {"rslora", c.lora.rslora},
                  {"target_modules", targets}, {"seed", c.lora.seed}}},
        {"data", {{"path", c.data.path.string()}, {"valid_path", c.data.valid_path.string()},
                  {"form", data_form_name(c.data.form)}, {"template", template_kind_name(c.data.chat_template)},
                  {"train_on_inputs", c.data.train_on_inputs}, {"max_seq_len", c.data.max_seq_len},
                  {"truncate", c.data.overlong == OverlongPolicy::Truncate}, {"packing", c.data.packing},
                  {"valid_fraction", c.data.valid_fraction}, {"skip_bad_lines", c.data.bad_policy == BadDataPolicy::Skip},
                  {"fields", {{"instruction", c.data.mapping.instruction}, {"input", c.data.mapping.input},
                              {"output", c.data.mapping.output}, {"messages", c.data.mapping.messages},
                              {"prompt", c.data.mapping.prompt}, {"completion", c.data.mapping.completion},
                              {"text", c.data.mapping.text}}}}},
        {"optim", {{"learning_rate", c.optim.adamw.lr}, {"adam_beta1", c.optim.adamw.beta1},
                   {"adam_beta2", c.optim.adamw.beta2}, {"adam_eps", c.optim.adamw.eps},
                   {"weight_decay", c.optim.adamw.weight_decay}, {"max_grad_norm", c.optim.adamw.max_grad_norm},
                   {"schedule", lr_schedule_name(c.optim.schedule.type)},
                   {"warmup_steps", c.optim.schedule.warmup_steps}, {"warmup_ratio", c.optim.schedule.warmup_ratio},
                   {"optimizer_budget_bytes", c.optim.paging.device_budget_bytes},
                   {"page_bytes", c.optim.paging.page_bytes}}},
        {"micro_batch", c.micro_batch}, {"grad_accum", c.grad_accum}, {"epochs", c.epochs},
        {"max_steps", c.max_steps}, {"eval_every", c.eval_every}, {"save_every", c.save_every},
        {"keep_checkpoints", c.keep_checkpoints}, {"early_stop_patience", c.early_stop_patience},
        {"early_stop_min_delta", c.early_stop_min_delta}, {"gradient_checkpointing", c.checkpointing}, {"offload_checkpoints", c.offload_checkpoints},
        {"seed", c.seed}, {"device", c.device}, {"compute_dtype", c.compute_dtype}, {"initial_loss_scale", c.initial_loss_scale},
        {"device_limit_bytes", c.device_limit_bytes}};
}

namespace {

// Reads j[key] into out when present; the error names the dotted field.
template <typename T>
void read(const nlohmann::json& j, const char* key, T& out, const std::string& where) {
    if (!j.contains(key)) return;
    try {
        out = j.at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
        throw ConfigError(str_cat(where, key, ": unexpected value ", j.at(key).dump()));
    }
}

void check_keys(const nlohmann::json& j, std::initializer_list<const char*> keys, const std::string& where) {
    QLS_CHECK(ConfigError, j.is_object(), where.empty() ? "config" : where, ": expected an object");
    const std::set<std::string> known(keys.begin(), keys.end());
    for (const auto& [k, v] : j.items())
        QLS_CHECK(ConfigError, known.count(k), "unknown setting '", where, k, "'");
}

}  // namespace

TrainConfig train_config_from_json(const nlohmann::json& j) {
    TrainConfig c;
    check_keys(j, {"model", "run_dir", "base", "lora", "data", "optim", "micro_batch", "grad_accum", "epochs", "max_steps",
                   "eval_every", "save_every", "keep_checkpoints", "early_stop_patience", "early_stop_min_delta",
                   "gradient_checkpointing", "offload_checkpoints", "seed", "device", "compute_dtype", "initial_loss_scale",
                   "device_limit_bytes"},
               "");
    std::string model = c.model.string(), run_dir = c.run_dir.string();
    read(j, "model", model, "");
    read(j, "run_dir", run_dir, "");
    c.model = model;
    c.run_dir = run_dir;
    if (j.contains("base")) {
        const auto& b = j.at("base");
        check_keys(b, {"quant", "double_quant", "blocksize", "gguf_blocks"}, "base.");
        std::string q = "nf4";
        read(b, "quant", q, "base.");
        QLS_CHECK(ConfigError, parse_base_quant(q, c.base.quant), "base.quant: expected nf4, fp4 or none, got '", q,
                  "'");
        read(b, "double_quant", c.base.double_quant, "base.");
        read(b, "blocksize", c.base.blocksize, "base.");
        // A run.json written before the key existed trained a GGUF base re-quantized to
        // base.quant: resuming it must keep doing so.
        c.base.gguf_blocks = false;
        read(b, "gguf_blocks", c.base.gguf_blocks, "base.");
    }
    if (j.contains("lora")) {
        const auto& l = j.at("lora");
        check_keys(l, {"r", "alpha", "dropout", "rslora", "target_modules", "seed"}, "lora.");
        read(l, "r", c.lora.rank, "lora.");
        read(l, "alpha", c.lora.alpha, "lora.");
        read(l, "dropout", c.lora.dropout, "lora.");
        read(l, "rslora", c.lora.rslora, "lora.");
        read(l, "seed", c.lora.seed, "lora.");
        if (l.contains("target_modules")) {
            std::vector<std::string> names;
            read(l, "target_modules", names, "lora.");
            c.lora.targets.clear();
            for (const auto& n : names) c.lora.targets.push_back(parse_lora_target(n));
        }
    }
    if (j.contains("data")) {
        const auto& d = j.at("data");
        check_keys(d, {"path", "valid_path", "form", "template", "train_on_inputs", "max_seq_len", "truncate", "packing",
                       "valid_fraction", "skip_bad_lines", "fields"},
                   "data.");
        std::string path, valid, form = "auto", tmpl = "model";
        bool truncate = true, skip = true;
        read(d, "path", path, "data.");
        read(d, "valid_path", valid, "data.");
        read(d, "form", form, "data.");
        read(d, "template", tmpl, "data.");
        c.data.path = path;
        c.data.valid_path = valid;
        auto f = parse_data_form(form);
        QLS_CHECK(ConfigError, f.has_value(), "data.form: unknown form '", form, "'");
        c.data.form = *f;
        auto t = parse_template_kind(tmpl);
        QLS_CHECK(ConfigError, t.has_value(), "data.template: unknown template '", tmpl, "'");
        c.data.chat_template = *t;
        read(d, "train_on_inputs", c.data.train_on_inputs, "data.");
        read(d, "max_seq_len", c.data.max_seq_len, "data.");
        read(d, "truncate", truncate, "data.");
        read(d, "packing", c.data.packing, "data.");
        read(d, "valid_fraction", c.data.valid_fraction, "data.");
        read(d, "skip_bad_lines", skip, "data.");
        c.data.overlong = truncate ? OverlongPolicy::Truncate : OverlongPolicy::Drop;
        c.data.bad_policy = skip ? BadDataPolicy::Skip : BadDataPolicy::Stop;
        if (d.contains("fields")) {
            const auto& m = d.at("fields");
            check_keys(m, {"instruction", "input", "output", "messages", "prompt", "completion", "text"}, "data.fields.");
            read(m, "instruction", c.data.mapping.instruction, "data.fields.");
            read(m, "input", c.data.mapping.input, "data.fields.");
            read(m, "output", c.data.mapping.output, "data.fields.");
            read(m, "messages", c.data.mapping.messages, "data.fields.");
            read(m, "prompt", c.data.mapping.prompt, "data.fields.");
            read(m, "completion", c.data.mapping.completion, "data.fields.");
            read(m, "text", c.data.mapping.text, "data.fields.");
        }
    }
    if (j.contains("optim")) {
        const auto& o = j.at("optim");
        check_keys(o, {"learning_rate", "adam_beta1", "adam_beta2", "adam_eps", "weight_decay", "max_grad_norm", "schedule",
                       "warmup_steps", "warmup_ratio", "optimizer_budget_bytes", "page_bytes"},
                   "optim.");
        read(o, "learning_rate", c.optim.adamw.lr, "optim.");
        read(o, "adam_beta1", c.optim.adamw.beta1, "optim.");
        read(o, "adam_beta2", c.optim.adamw.beta2, "optim.");
        read(o, "adam_eps", c.optim.adamw.eps, "optim.");
        read(o, "weight_decay", c.optim.adamw.weight_decay, "optim.");
        read(o, "max_grad_norm", c.optim.adamw.max_grad_norm, "optim.");
        std::string sched(lr_schedule_name(c.optim.schedule.type));
        read(o, "schedule", sched, "optim.");
        c.optim.schedule.type = parse_lr_schedule(sched);
        read(o, "warmup_steps", c.optim.schedule.warmup_steps, "optim.");
        read(o, "warmup_ratio", c.optim.schedule.warmup_ratio, "optim.");
        read(o, "optimizer_budget_bytes", c.optim.paging.device_budget_bytes, "optim.");
        read(o, "page_bytes", c.optim.paging.page_bytes, "optim.");
    }
    read(j, "micro_batch", c.micro_batch, "");
    read(j, "grad_accum", c.grad_accum, "");
    read(j, "epochs", c.epochs, "");
    read(j, "max_steps", c.max_steps, "");
    read(j, "eval_every", c.eval_every, "");
    read(j, "save_every", c.save_every, "");
    read(j, "keep_checkpoints", c.keep_checkpoints, "");
    read(j, "early_stop_patience", c.early_stop_patience, "");
    read(j, "early_stop_min_delta", c.early_stop_min_delta, "");
    read(j, "gradient_checkpointing", c.checkpointing, "");
    c.offload_checkpoints = "off";  // absent: a run from before the setting, which never offloaded
    read(j, "offload_checkpoints", c.offload_checkpoints, "");
    read(j, "seed", c.seed, "");
    read(j, "device", c.device, "");
    read(j, "compute_dtype", c.compute_dtype, "");
    read(j, "initial_loss_scale", c.initial_loss_scale, "");
    read(j, "device_limit_bytes", c.device_limit_bytes, "");
    return c;
}

namespace {

void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, nlohmann::json>& out) {
    if (!j.is_object()) {
        out[prefix] = j;
        return;
    }
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
}

}  // namespace

nlohmann::json resume_changes(const TrainConfig& stored, const TrainConfig& edited) {
    static const std::set<std::string> resumable = {
        "optim.learning_rate", "optim.schedule", "optim.warmup_steps", "optim.warmup_ratio", "optim.max_grad_norm",
        "max_steps", "epochs", "eval_every", "save_every", "keep_checkpoints", "early_stop_patience",
        "early_stop_min_delta", "optim.optimizer_budget_bytes", "optim.page_bytes", "device_limit_bytes", "offload_checkpoints", "model"};
    std::map<std::string, nlohmann::json> before, after;
    flatten(to_json(stored), "", before);
    flatten(to_json(edited), "", after);
    nlohmann::json changes = nlohmann::json::object();
    for (const auto& [key, value] : after) {
        if (before[key] == value) continue;
        QLS_CHECK(ConfigError, resumable.count(key), "a resumed run cannot change '", key, "' (", before[key].dump(),
                  " to ", value.dump(), "): it would change what the checkpoint continues; start a new run instead");
        changes[key] = {{"from", before[key]}, {"to", value}};
    }
    return changes;
}

}  // namespace qls
