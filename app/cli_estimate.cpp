// qlora estimate MODEL|--config config.json [--gpu ID|detected] [--fit micro-batch|seq-len]
//                [--longest-seq] [hyperparameters] [--device-gib N] [--ops cpu|cuda] [--json]
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli_commands.h"
#include "app/cli_device.h"
#include "app/cli_train_options.h"
#include "core/backend/cpu/cpu_backend.h"
#include "core/hub/hub_download.h"
#include "core/model/model_layout.h"
#include "core/train/fit_search.h"
#include "core/train/gpu_presets.h"
#include "core/train/longest_seq.h"
#include "core/train/offload_choice.h"
#include "core/train/run_budget.h"
#include "core/train/memory_estimate.h"
#include "core/util/compute_dtype.h"

#ifdef QLS_HAVE_CUDA
#include "kernels/device_info.h"
#endif

namespace qls::cli {

const char* const kEstimateUsage =
    "usage: qlora estimate MODEL|--config config.json [--gpu ID|detected] [--fit micro-batch|seq-len]\n"
    "                      [--longest-seq] [--device-gib N] [--ops cpu|cuda] [--json] [training options]\n"
    "  Device memory of a QLoRA run by category, before anything is loaded onto a device. MODEL is a\n"
    "  model folder or .gguf file, or a Hugging Face ID or URL (only its config.json is fetched);\n"
    "  a folder with only config.json (weights not downloaded) or --config config.json gives the\n"
    "  same estimate from the config alone.\n"
    "  --gpu ID         check against a GPU: t4, l4, rtx3090, rtx4090, a100-40, a100-80, h100, h200,\n"
    "                   or detected; its marketed memory less a 1 GiB CUDA context reserve is usable,\n"
    "                   and compute dtype auto means bf16 on it (fp16 on a T4)\n"
    "  --device-gib N   device size (or budget) for the verdict, instead of --gpu\n"
    "                   (with neither: --device-limit-mib, else the GPU's free memory now)\n"
    "  --ops cpu|cuda   plan the workspace as this backend runs its ops (default: cuda with --gpu,\n"
    "                   else the device's), for a GPU this machine lacks\n"
    "  --fit WHAT       also find the largest micro-batch or sequence length that fits\n"
    "  --longest-seq    the longest sequence that fits (to the token) for the micro-batch and rank,\n"
    "                   with and without offloaded checkpoints, and the host memory offload needs\n"
    "  --json           print the estimate as JSON\n"
    "  training options as for qlora train (--quant, --rank, --micro-batch, --max-seq-len,\n"
    "  --no-gradient-checkpointing, --optimizer-budget-mib, ...)\n"
    QLS_TRAIN_OPTIONS_HELP;

namespace {

GpuTarget gpu_target(const std::string& spec) {
    if (spec != "detected") {
        try {
            return parse_gpu(spec);
        } catch (const ConfigError& e) {
            throw UsageError(std::string("--gpu: ") + e.what());
        }
    }
#ifdef QLS_HAVE_CUDA
    if (qls::cuda::device_available()) {
        const auto info = qls::cuda::device_info(0);
        return detected_gpu(info.name, static_cast<std::int64_t>(info.total_bytes), info.major >= 8);
    }
    throw UsageError("--gpu detected: no CUDA device answers; name a GPU instead (t4, rtx4090, ...)");
#else
    throw UsageError("--gpu detected: this build has no CUDA backend; name a GPU instead (t4, rtx4090, ...)");
#endif
}

struct Target {
    std::optional<GpuTarget> gpu;
    std::int64_t device_bytes = 0;
};

Target target(const Args& args) {
    Target t;
    const auto gpu = args.option("gpu");
    const auto gib = args.option("device-gib");
    if (gpu && gib) throw UsageError("--gpu and --device-gib both name the device size: give one");
    if (gpu) {
        t.gpu = gpu_target(*gpu);
        t.device_bytes = t.gpu->usable_bytes();
    } else if (gib) {
        t.device_bytes = static_cast<std::int64_t>(parse_number<double>("device-gib", *gib) * (1ll << 30));
    }
    return t;
}

// A Hub ID or URL fetches config.json alone (into the Hugging Face cache).
ModelLayout open_layout(const Args& args) {
    const auto config = args.option("config");
    args.expect_positional(config ? 0 : 1);
    if (config) return open_model_layout(*config);
    const std::string& model = args.positional()[0];
    if (!looks_like_hub_ref(model)) return open_model_layout(model);
    const HubModelRef ref = parse_hub_model_ref(model);
    const HubDownload d = download_from_hub(hub_settings_from_environment(), ref, HubFetch::ConfigOnly);
    ModelLayout layout = open_model_layout(d.snapshot);
    layout.name = ref.repo_id;
    return layout;
}

nlohmann::json to_json(const MemoryEstimate& e) {
    nlohmann::json j;
    for (Usage u : kAllUsages) j["bytes"][std::string(usage_name(u))] = e.of(u);
    j["device_total"] = e.device_total;
    j["activations_checkpointed"] = e.activations_checkpointed;
    j["activations_full"] = e.activations_full;
    j["activations_offloaded"] = e.activations_offloaded;
    j["offload_host"] = e.offload_host;
    j["logits_workspace"] = e.logits_workspace;
    j["device_bytes"] = e.device_bytes;
    j["fits"] = e.fits;
    j["verdict"] = e.verdict;
    return j;
}

void print_estimate(const ModelLayout& model, const EstimateOptions& o, const MemoryEstimate& e) {
    std::printf("Memory estimate for %s%s: micro-batch %lld x %lld tokens, LoRA r=%lld, base %s, %s compute, "
                "checkpointing %s%s\n",
                model.name.c_str(), model.config_only ? " (config only: weights not downloaded)" : "",
                (long long)o.micro_batch, (long long)o.seq_len, (long long)o.lora.rank,
                o.base.quant ? std::string(quant_type_name(*o.base.quant)).c_str() : "16-bit",
                compute_dtype_name(o.base.compute).c_str(), o.checkpointing ? "on" : "off",
                o.offload_checkpoints ? ", offloaded to the host" : "");
    for (Usage u : kAllUsages)
        std::printf("  %-18s %12s%s\n", std::string(usage_name(u)).c_str(), format_bytes(e.of(u)).c_str(),
                    usage_on_device(u) ? "" : "  (host)");
    std::printf("  %-18s %12s\n", "device total", format_bytes(e.device_total).c_str());
    std::printf("  activations: %s with gradient checkpointing, %s without, %s with checkpoints offloaded; "
                "logits chunk %s\n",
                format_bytes(e.activations_checkpointed).c_str(), format_bytes(e.activations_full).c_str(),
                format_bytes(e.activations_offloaded).c_str(), format_bytes(e.logits_workspace).c_str());
}

void print_fit(const FitResult& f) {
    const std::string what = f.dimension == FitDimension::MicroBatch ? "micro-batch" : "sequence length";
    if (f.value == 0)
        std::printf("Largest %s that fits: none (1 needs %s)\n", what.c_str(),
                    format_bytes(f.estimate.device_total).c_str());
    else
        std::printf("Largest %s that fits: %lld (needs %s of %s)%s\n", what.c_str(), (long long)f.value,
                    format_bytes(f.estimate.device_total).c_str(), format_bytes(f.estimate.device_bytes).c_str(),
                    !f.at_limit() ? ""
                    : f.dimension == FitDimension::SeqLen ? ", the model's context length"
                                                          : ", the largest tried");
}

nlohmann::json to_json(const LongestSeq& l) {
    nlohmann::json j = {{"plain", l.plain.value}, {"plain_device_total", l.plain.estimate.device_total},
                        {"limit", l.plain.limit}, {"granularity", 1}};
    if (l.offloaded)
        j["offloaded"] = {{"value", l.offloaded->value}, {"device_total", l.offloaded->estimate.device_total},
                          {"offload_host_bytes", l.offloaded->estimate.offload_host}};
    return j;
}

void print_longest(const LongestSeq& l) {
    auto tokens = [](const FitResult& f) {
        return f.value == 0 ? std::string("none")
                            : str_cat(f.value, " tokens", f.at_limit() ? " (the model's context length)" : "");
    };
    std::printf("Longest sequence that fits: %s (needs %s)\n", tokens(l.plain).c_str(),
                format_bytes(l.plain.estimate.device_total).c_str());
    if (l.offloaded)
        std::printf("  with offloaded checkpoints: %s (needs %s, and %s of host memory for the checkpoints)\n",
                    tokens(*l.offloaded).c_str(), format_bytes(l.offloaded->estimate.device_total).c_str(),
                    format_bytes(l.offloaded->estimate.offload_host).c_str());
    else
        std::printf("  offloaded checkpoints need gradient checkpointing\n");
}

}  // namespace

int run_estimate(const std::vector<std::string>& raw) {
    std::vector<std::string> flags = train_flags(), options = train_options();
    flags.push_back("json");
    flags.push_back("longest-seq");
    for (const char* o : {"device-gib", "gpu", "config", "fit", "ops"}) options.push_back(o);
    const Args args(raw, flags, options);
    TrainConfig c;
    apply_train_options(args, c);
    std::optional<FitDimension> fit;
    if (auto f = args.option("fit"); f && !(fit = parse_fit_dimension(*f)))
        throw UsageError("--fit: expected micro-batch or seq-len, got '" + *f + "'");
    const Target device_target = target(args);
    const ModelLayout model = open_layout(args);
    // The estimate is of the backend the run would get (its own scratch included); "auto"
    // computes in what the named GPU would.
    const BackendChoice device = choose_backend(c.device);
    EstimateOptions o;
    o.base = c.base;
    o.base.compute = device_target.gpu && c.compute_dtype == "auto"
                         ? (device_target.gpu->bf16 ? DType::BF16 : DType::F16)
                         : resolve_compute_dtype(c.compute_dtype, *device.backend);
    o.lora = c.lora;
    o.micro_batch = c.micro_batch;
    o.seq_len = static_cast<std::int64_t>(c.data.max_seq_len);
    o.checkpointing = c.checkpointing;
    o.paging = c.optim.paging;
    // Without --gpu or --device-gib, what the run itself would plan against: its set size, or
    // the chosen GPU's free memory now (none on the CPU without a size, as before).
    std::optional<RunBudget> budget;
    if (!args.option("gpu") && !args.option("device-gib")) {
        budget = run_budget(c.device_limit_bytes, parse_device(c.device));
        if (budget->source == RunBudget::Source::None) budget.reset();
    }
    o.device_bytes = budget ? budget->bytes : device_target.device_bytes;
    // As the trainer decides it against this budget ("auto": only when the run would not fit
    // otherwise); --longest-seq shows both.
    // Against a named GPU (or with --ops cuda) the ops are planned as the CUDA backend runs them,
    // also on a machine without one: its workspace is not the CPU's fp32 copies.
    const std::string ops = args.option("ops").value_or(device_target.gpu ? "cuda" : device.kind);
    if (ops != "cpu" && ops != "cuda") throw UsageError("--ops: expected cpu or cuda, got '" + ops + "'");
    std::unique_ptr<MemoryPlanner> other_planner;
    if (ops != device.kind) {
        other_planner = ops == "cpu" ? std::make_unique<CpuBackend>() : memory_planner(ops);
        if (!other_planner && args.option("ops")) throw UsageError("--ops cuda: this build has no CUDA backend");
    }
    const MemoryPlanner& planner = other_planner ? *other_planner : *device.backend;
    const std::string planned_as = other_planner ? ops : device.kind;
    const OffloadChoice offload = choose_offload(c.offload_checkpoints, model, o, planner);
    o.offload_checkpoints = offload.offload;
    const MemoryEstimate e = estimate_memory(model, o, planner);
    std::optional<FitResult> found;
    if (fit) found = fit_largest(model, o, *fit, planner);
    std::optional<LongestSeq> longest;
    if (args.flag("longest-seq")) longest = longest_seq(model, o, planner);
    const bool ok = longest ? longest->plain.value > 0 || (longest->offloaded && longest->offloaded->value > 0)
                    : found ? found->value > 0
                            : e.fits;
    if (args.flag("json")) {
        nlohmann::json j = to_json(e);
        j["model"] = model.name;
        j["config_only"] = model.config_only;
        j["device"] = device.device;
        j["compute_dtype"] = compute_dtype_name(o.base.compute);
        j["offload_checkpoints"] = o.offload_checkpoints;
        j["ops_planned_as"] = planned_as;
        if (budget)
            j["budget"] = {{"bytes", budget->bytes}, {"source", run_budget_source_name(budget->source)},
                           {"reason", budget->reason}};
        if (device_target.gpu)
            j["gpu"] = {{"id", device_target.gpu->id}, {"name", device_target.gpu->name},
                        {"total_bytes", device_target.gpu->total_bytes},
                        {"usable_bytes", device_target.gpu->usable_bytes()}};
        if (found)
            j["fit"] = {{"dimension", fit_dimension_name(found->dimension)}, {"value", found->value},
                        {"limit", found->limit}, {"device_total", found->estimate.device_total}};
        if (longest) j["longest_seq"] = to_json(*longest);
        std::cout << j.dump(2) << '\n';
        return ok ? 0 : 3;
    }
    print_estimate(model, o, e);
    if (device_target.gpu)
        std::printf("against %s: %s usable (%s less a %s CUDA context reserve)\n", device_target.gpu->name.c_str(),
                    format_bytes(device_target.gpu->usable_bytes()).c_str(),
                    format_bytes(device_target.gpu->total_bytes).c_str(), format_bytes(kCudaContextReserveBytes).c_str());
    if (planned_as != ops)
        std::printf("workspace planned as the %s backend runs its ops: this build has no CUDA backend\n",
                    planned_as.c_str());
    else if (planned_as != device.kind)
        std::printf("workspace planned as the %s backend runs its ops (this machine would run them on %s)\n",
                    planned_as.c_str(), device.device.c_str());
    if (budget) std::printf("planning against %s\n", budget->reason.c_str());
    if (!offload.reason.empty()) std::printf("%s\n", offload.reason.c_str());
    std::printf("%s\n", e.verdict.c_str());
    if (found) print_fit(*found);
    if (longest) print_longest(*longest);
    return ok ? 0 : 3;
}

}  // namespace qls::cli
