// qlora estimate MODEL [hyperparameters] [--device-gib N] [--json]
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli_commands.h"
#include "app/cli_device.h"
#include "app/cli_train_options.h"
#include "core/model/model_loader.h"
#include "core/train/memory_estimate.h"
#include "core/util/compute_dtype.h"

namespace qls::cli {

const char* const kEstimateUsage =
    "usage: qlora estimate MODEL [--device-gib N] [--json] [training options]\n"
    "  Device memory of a QLoRA run by category, before anything is loaded onto a device.\n"
    "  --device-gib N   device size (or budget) for the verdict\n"
    "  --json           print the estimate as JSON\n"
    "  training options as for qlora train (--quant, --rank, --micro-batch, --max-seq-len,\n"
    "  --no-gradient-checkpointing, --optimizer-budget-mib, ...)\n"
    QLS_TRAIN_OPTIONS_HELP;

int run_estimate(const std::vector<std::string>& raw) {
    std::vector<std::string> flags = train_flags(), options = train_options();
    flags.push_back("json");
    options.push_back("device-gib");
    const Args args(raw, flags, options);
    args.expect_positional(1);
    TrainConfig c;
    apply_train_options(args, c);
    // The estimate is of the backend the run would get (its own scratch included).
    const BackendChoice device = choose_backend(c.device);
    const Model model = load_model(args.positional()[0]);
    EstimateOptions o;
    o.base = c.base;
    o.base.compute = resolve_compute_dtype(c.compute_dtype, *device.backend);
    o.lora = c.lora;
    o.micro_batch = c.micro_batch;
    o.seq_len = static_cast<std::int64_t>(c.data.max_seq_len);
    o.checkpointing = c.checkpointing;
    o.paging = c.optim.paging;
    if (auto g = args.option("device-gib")) {
        try {
            o.device_bytes = static_cast<std::int64_t>(std::stod(*g) * (1ll << 30));
        } catch (const std::exception&) {
            throw UsageError("--device-gib: not a number: '" + *g + "'");
        }
    }
    const MemoryEstimate e = estimate_memory(model, o, *device.backend);
    if (args.flag("json")) {
        nlohmann::json j;
        for (Usage u : kAllUsages) j["bytes"][std::string(usage_name(u))] = e.of(u);
        j["device_total"] = e.device_total;
        j["activations_checkpointed"] = e.activations_checkpointed;
        j["activations_full"] = e.activations_full;
        j["logits_workspace"] = e.logits_workspace;
        j["device_bytes"] = e.device_bytes;
        j["fits"] = e.fits;
        j["verdict"] = e.verdict;
        j["device"] = device.device;
        j["compute_dtype"] = compute_dtype_name(o.base.compute);
        std::cout << j.dump(2) << '\n';
        return e.fits ? 0 : 3;
    }
    std::printf("Memory estimate for %s: micro-batch %lld x %lld tokens, LoRA r=%lld, base %s, %s compute, "
                "checkpointing %s\n",
                model.name.c_str(), (long long)o.micro_batch, (long long)o.seq_len, (long long)o.lora.rank,
                o.base.quant ? std::string(quant_type_name(*o.base.quant)).c_str() : "16-bit",
                compute_dtype_name(o.base.compute).c_str(), o.checkpointing ? "on" : "off");
    for (Usage u : kAllUsages)
        std::printf("  %-18s %12s%s\n", std::string(usage_name(u)).c_str(), format_bytes(e.of(u)).c_str(),
                    usage_on_device(u) ? "" : "  (host)");
    std::printf("  %-18s %12s\n", "device total", format_bytes(e.device_total).c_str());
    std::printf("  activations: %s with gradient checkpointing, %s without; logits chunk %s\n",
                format_bytes(e.activations_checkpointed).c_str(), format_bytes(e.activations_full).c_str(),
                format_bytes(e.logits_workspace).c_str());
    std::printf("%s\n", e.verdict.c_str());
    return e.fits ? 0 : 3;
}

}  // namespace qls::cli
