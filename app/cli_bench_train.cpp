// `qlora bench train`: whole QLoRA training steps on random weights of a named shape (no
// download), on the device --device chooses, in the configuration of ../shared/bench's
// peer_qlora.py: NF4 + double quant, LoRA r 16 / alpha 32 / dropout 0 on q,k,v,o,gate,up,down,
// gradient checkpointing, AdamW lr 2e-4 with clipping at 0.3. Validates first (the first step's
// loss must be finite and near ln V, what random weights give), then reports the median step
// time of the measured steps, tokens/s, and the peak memory by category next to the estimate.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli_commands.h"
#include "app/cli_device.h"
#include "core/backend/dropout_mask.h"
#include "core/model/llama_model.h"
#include "core/model/random_model.h"
#include "core/train/adamw_optimizer.h"
#include "core/train/memory_estimate.h"
#include "core/util/compute_dtype.h"

namespace qls::cli {

namespace {

// Random token ids, every position trained (labels = inputs shifted), one sequence per row.
Batch random_batch(std::int64_t b, std::int64_t t, std::int64_t vocab, std::uint64_t seed) {
    Batch batch;
    batch.batch = b;
    batch.seq_len = t;
    std::vector<std::int32_t> ids(static_cast<std::size_t>(b * t));
    for (std::size_t i = 0; i < ids.size(); ++i)
        ids[i] = static_cast<std::int32_t>(mix64(seed ^ mix64(i)) % static_cast<std::uint64_t>(vocab));
    for (std::int64_t r = 0; r < b; ++r)
        for (std::int64_t p = 0; p < t; ++p) {
            const auto i = static_cast<std::size_t>(r * t + p);
            batch.tokens.push_back(ids[i]);
            batch.targets.push_back(p + 1 < t ? ids[i + 1] : kIgnoreIndex);
            batch.positions.push_back(static_cast<std::int32_t>(p));
            batch.segments.push_back(0);
        }
    return batch;
}

std::int64_t positive(const Args& args, const char* name, std::int64_t fallback) {
    const std::int64_t v = parse_number<std::int64_t>(name, args.option(name).value_or(std::to_string(fallback)));
    if (v < 1) throw UsageError(str_cat("--", name, ": expected at least 1, got ", v));
    return v;
}

}  // namespace

const char* const kBenchTrainUsage =
    "usage: qlora bench train [--shape llama-1b|llama-7b|smollm2-135m] [--steps N] [--warmup N]\n"
    "                         [--micro-batch B] [--seq-len T] [--device D] [--compute-dtype X] [--json]\n"
    "  Whole training steps on random weights (no download), peer_qlora.py's configuration.\n"
    "  Defaults: llama-1b, 10 measured steps after 3 warm-up steps, micro-batch 2, seq-len 2048,\n"
    "  --device auto, --compute-dtype auto (on the CPU use a smaller shape or --seq-len).\n";

int run_bench_train(const std::vector<std::string>& raw) {
    if (raw.size() == 1 && (raw[0] == "--help" || raw[0] == "-h")) {
        std::fputs(kBenchTrainUsage, stdout);
        return 0;
    }
    const Args args(raw, {"json"}, {"shape", "steps", "warmup", "micro-batch", "seq-len", "device", "compute-dtype"});
    args.expect_positional(0);
    const std::string shape = args.option("shape").value_or("llama-1b");
    const LlamaConfig config = benchmark_shape(shape);
    const std::int64_t steps = positive(args, "steps", 10), micro = positive(args, "micro-batch", 2);
    const std::int64_t seq = positive(args, "seq-len", 2048);
    const std::int64_t warmup = parse_number<std::int64_t>("warmup", args.option("warmup").value_or("3"));
    if (warmup < 0) throw UsageError("--warmup: expected at least 0");
    const std::string compute_spec = args.option("compute-dtype").value_or("auto");
    check_compute_dtype(compute_spec);

    const BackendChoice device = choose_backend(args.option("device").value_or("auto"));
    Backend& backend = *device.backend;
    const BaseWeightsOptions base_options{QuantType::NF4, true, 64, resolve_compute_dtype(compute_spec, backend)};
    LoraConfig lora_config;
    lora_config.rank = 16;
    lora_config.alpha = 32;
    lora_config.dropout = 0;
    AdamWConfig adamw;
    adamw.lr = 2e-4;
    adamw.max_grad_norm = 0.3;

    std::fprintf(stderr, "random %s weights (bf16) ...\n", shape.c_str());
    const Model model = random_model(config, DType::BF16, 1);
    EstimateOptions eo;
    eo.base = base_options;
    eo.lora = lora_config;
    eo.micro_batch = micro;
    eo.seq_len = seq;
    const MemoryEstimate estimate = estimate_memory(model, eo, backend);

    const auto t_load = std::chrono::steady_clock::now();
    DeviceBaseModel base(backend, model, base_options);
    LoraParameters lora(backend, config, lora_config);
    LlamaModel llama(backend, base, &lora, {micro, seq, true, 0, base_options.compute});
    AdamWOptimizer optimizer(backend, lora.params(), adamw);
    backend.synchronize();
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();

    std::vector<double> times;
    double first_loss = 0;
    for (std::int64_t s = 0; s < warmup + steps; ++s) {
        const Batch batch = random_batch(micro, seq, config.vocab_size, static_cast<std::uint64_t>(s));
        const auto t0 = std::chrono::steady_clock::now();
        lora.zero_grads();
        llama.reset_loss();
        const auto trained = static_cast<float>(batch.trained_tokens());
        llama.forward_backward(batch, 1.0f / trained, static_cast<std::uint64_t>(s));
        const OptimizerStepResult r = optimizer.step(adamw.lr, llama.loss_sum());  // the step's one read
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (s == 0) {
            first_loss = r.loss_sum / trained;
            // Random weights of this scale give near-uniform logits: the loss is about ln V.
            const double expected = std::log(static_cast<double>(config.vocab_size));
            if (!r.applied || !std::isfinite(first_loss) || std::fabs(first_loss - expected) > 0.1 * expected) {
                std::fprintf(stderr, "bench train: first step's loss %g, expected about ln V = %g%s\n", first_loss,
                             expected, r.applied ? "" : " (update skipped: NaN/Inf)");
                return 1;
            }
        }
        if (s >= warmup) times.push_back(dt);
    }
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    const double tokens_per_s = static_cast<double>(micro * seq) / median;
    const MemorySnapshot mem = backend.memory().snapshot();

    if (args.flag("json")) {
        nlohmann::json j;
        j["shape"] = shape;
        j["device"] = device.device;
        j["compute_dtype"] = compute_dtype_name(base_options.compute);
        j["micro_batch"] = micro;
        j["seq_len"] = seq;
        j["steps"] = steps;
        j["warmup"] = warmup;
        j["step_s"] = times;
        j["median_step_s"] = median;
        j["tokens_per_s"] = tokens_per_s;
        j["first_loss"] = first_loss;
        j["load_and_quantize_s"] = load_s;
        j["peak_bytes"] = mem.device_peak;
        j["estimated_bytes"] = estimate.device_total;
        for (Usage u : kAllUsages) {
            j["peak_by_category"][std::string(usage_name(u))] = mem.peak_of(u);
            j["estimate_by_category"][std::string(usage_name(u))] = estimate.of(u);
        }
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    std::printf("%s, NF4 + double quant, LoRA r16 on all 7 linears, %s compute, micro-batch %lld x %lld tokens, "
                "gradient checkpointing\n",
                shape.c_str(), compute_dtype_name(base_options.compute).c_str(), (long long)micro, (long long)seq);
    std::printf("device          %s\n", device.device.c_str());
    std::printf("load + quantize %.2f s (from random bf16 weights in host memory)\n", load_s);
    std::printf("step            %.3f s median of %lld (after %lld warm-up), first loss %.4f\n", median,
                (long long)steps, (long long)warmup, first_loss);
    std::printf("tokens/s        %.1f\n", tokens_per_s);
    std::printf("%-18s %12s %12s\n", "memory", "peak", "estimate");
    for (Usage u : kAllUsages)
        if (usage_on_device(u))
            std::printf("  %-16s %12s %12s\n", std::string(usage_name(u)).c_str(), format_bytes(mem.peak_of(u)).c_str(),
                        format_bytes(estimate.of(u)).c_str());
    std::printf("  %-16s %12s %12s\n", "total", format_bytes(mem.device_peak).c_str(),
                format_bytes(estimate.device_total).c_str());
    return 0;
}

}  // namespace qls::cli
