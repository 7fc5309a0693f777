// `qlora bench train`: core/train/train_bench.h's benchmark on the device --device chooses,
// printed as a table (or --json), and with --peer the same figures next to peer_qlora.py's
// peer_results.json from the same device call: ours, peer, ratio, and the peer's ceilings.
#include <cstdio>
#include <iostream>

#include "app/cli_commands.h"
#include "app/cli_device.h"
#include "core/train/peer_comparison.h"
#include "core/train/train_bench.h"
#include "core/train/train_bench_json.h"
#include "core/util/compute_dtype.h"

namespace qls::cli {

namespace {

std::int64_t number_option(const Args& args, const char* name, std::int64_t fallback, std::int64_t least) {
    const std::int64_t v =
        parse_number<std::int64_t>(name, args.option(name).value_or(std::to_string(fallback)));
    if (v < least) throw UsageError(str_cat("--", name, ": expected at least ", least, ", got ", v));
    return v;
}

void print_report(const TrainBenchReport& r, const std::string& device) {
    const TrainBenchOptions& o = r.options;
    std::printf(
        "%s, NF4 + double quant, LoRA r16 on all 7 linears, %s compute, micro-batch %lld x %lld tokens, "
        "gradient checkpointing\n",
        o.shape.c_str(), compute_dtype_name(o.compute).c_str(), (long long)o.micro_batch,
        (long long)o.seq_len);
    std::printf("device            %s\n", device.c_str());
    std::printf("load + quantize   %.3f s (bf16 checkpoint of %s from the page cache)\n",
                r.load_and_quantize_s, format_bytes(r.checkpoint_bytes).c_str());
    std::printf("step              %.4f s median of %lld (after %lld warm-up), first loss %.4f\n",
                r.median_step_s, (long long)o.steps, (long long)o.warmup, r.first_loss);
    std::printf("tokens/s          %.1f\n", r.tokens_per_s);
    std::printf("dense GEMM        %.3g TFLOP/s (%lld x %lld -> %lld, %s, best of %d)\n",
                r.gemm.flops_per_s / 1e12, (long long)r.gemm.rows, (long long)r.gemm.in,
                (long long)r.gemm.out, compute_dtype_name(r.gemm.dtype).c_str(), o.gemm_reps);
    std::printf(
        "utilisation       %.3f useful-FLOP, %.3f with checkpointing's recompute (%.3g / %.3g TFLOP per "
        "step)\n",
        r.useful_utilisation, r.hardware_utilisation, r.flops.useful / 1e12, r.flops.hardware / 1e12);
    std::printf("%-18s %12s %12s\n", "memory", "peak", "estimate");
    for (Usage u : kAllUsages)
        if (usage_on_device(u))
            std::printf("  %-16s %12s %12s\n", std::string(usage_name(u)).c_str(),
                        format_bytes(r.memory.peak_of(u)).c_str(), format_bytes(r.estimate.of(u)).c_str());
    std::printf("  %-16s %12s %12s\n", "total", format_bytes(r.memory.device_peak).c_str(),
                format_bytes(r.estimate.device_total).c_str());
    if (r.device_in_use_peak)
        std::printf("  %-16s %12s   (what the device counts as taken: the whole process)\n", "device in use",
                    format_bytes(*r.device_in_use_peak).c_str());
}

void print_comparison(const PeerResults& peer, const PeerRun& run, const std::vector<ComparisonRow>& rows) {
    std::printf("\npeer: %s %s, transformers + bitsandbytes + PEFT (%s)%s%s\n", run.model.c_str(),
                run.method.c_str(), peer.source.c_str(), peer.gpu.empty() ? "" : ", ", peer.gpu.c_str());
    std::printf("%-32s %12s %12s %9s\n", "", "ours", "peer", "ratio");
    for (const ComparisonRow& row : rows)
        std::printf("%-32s %12.4g %12.4g %8.3gx  (%s is better)\n", row.what.c_str(), row.ours, row.peer,
                    row.ratio(), row.higher_is_better ? "higher" : "lower");
    if (peer.gemm_tflops) std::printf("peer's ceilings   bf16 GEMM 8192^3 %.1f TFLOP/s", *peer.gemm_tflops);
    if (peer.copy_gbps)
        std::printf("%sdevice copy %.0f GB/s", peer.gemm_tflops ? ", " : "peer's ceilings   ",
                    *peer.copy_gbps);
    if (peer.gemm_tflops || peer.copy_gbps) std::printf("\n");
}

}  // namespace

const char* const kBenchTrainUsage =
    "usage: qlora bench train [--shape llama-1b|llama-7b|smollm2-135m|tiny] [--steps N] [--warmup N]\n"
    "                         [--micro-batch B] [--seq-len T] [--device D] [--compute-dtype X]\n"
    "                         [--peer peer_results.json] [--json]\n"
    "  Whole QLoRA steps on random weights (no download) in peer_qlora.py's configuration: writes\n"
    "  them as a bf16 checkpoint, times loading + quantizing it, then reports the median step,\n"
    "  tokens/s, peak memory by category against the estimate, and useful-FLOP utilisation against\n"
    "  a dense GEMM measured in the same run. --peer: the same figures next to the peer's run of\n"
    "  this shape (qlora method), with ratios and the peer's device ceilings.\n"
    "  Defaults: llama-1b, 10 measured steps after 3 warm-up steps, micro-batch 2, seq-len 2048\n"
    "  (256 for tiny, a shape that runs in seconds on the CPU), --device auto, --compute-dtype auto.\n";

int run_bench_train(const std::vector<std::string>& raw) {
    if (raw.size() == 1 && (raw[0] == "--help" || raw[0] == "-h")) {
        std::fputs(kBenchTrainUsage, stdout);
        return 0;
    }
    const Args args(
        raw, {"json"},
        {"shape", "steps", "warmup", "micro-batch", "seq-len", "device", "compute-dtype", "peer"});
    args.expect_positional(0);
    TrainBenchOptions options;
    options.shape = args.option("shape").value_or("llama-1b");
    options.steps = number_option(args, "steps", 10, 1);
    options.warmup = number_option(args, "warmup", 3, 0);
    options.micro_batch = number_option(args, "micro-batch", 2, 1);
    options.seq_len = number_option(args, "seq-len", options.shape == "tiny" ? 256 : 2048, 2);
    const std::string compute_spec = args.option("compute-dtype").value_or("auto");
    check_compute_dtype(compute_spec);
    // Read the peer's file first: a wrong path or shape fails before minutes of benchmark.
    std::optional<PeerResults> peer;
    if (const auto path = args.option("peer")) {
        peer = read_peer_results(*path);
        find_peer_run(*peer, options.shape, "qlora");
    }

    const BackendChoice device = choose_backend(args.option("device").value_or("auto"));
    options.compute = resolve_compute_dtype(compute_spec, *device.backend);
    const TrainBenchReport report = run_train_bench(*device.backend, options, [](std::string_view line) {
        std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
    });
    std::vector<ComparisonRow> rows;
    if (peer) rows = compare_with_peer(report, *peer, find_peer_run(*peer, options.shape, "qlora"));

    if (args.flag("json")) {
        nlohmann::json j = train_bench_json(report);
        j["device"] = device.device;
        if (peer) j["peer"] = peer_comparison_json(*peer, find_peer_run(*peer, options.shape, "qlora"), rows);
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    print_report(report, device.device);
    if (peer) print_comparison(*peer, find_peer_run(*peer, options.shape, "qlora"), rows);
    return 0;
}

}  // namespace qls::cli
