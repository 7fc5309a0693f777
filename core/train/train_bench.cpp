#include "core/train/train_bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <system_error>

#include "core/backend/dropout_mask.h"
#include "core/data/batch.h"
#include "core/model/device_base_model.h"
#include "core/model/llama_model.h"
#include "core/model/lora_parameters.h"
#include "core/model/random_model.h"
#include "core/train/adamw_optimizer.h"
#include "core/util/error.h"

namespace qls {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

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

// A folder of its own for the checkpoint, removed with everything in it when the bench ends.
class ScratchFolder {
public:
    ScratchFolder(const std::filesystem::path& parent, std::int64_t bytes_needed) {
        std::filesystem::path base = parent;
        if (base.empty()) {
            std::error_code ec;
            // Like the peer: a RAM-backed folder keeps the timed load off the disk's first read.
            const auto shm = std::filesystem::space("/dev/shm", ec);
            base = !ec && shm.available > static_cast<std::uintmax_t>(bytes_needed) * 13 / 10
                       ? std::filesystem::path("/dev/shm")
                       : std::filesystem::temp_directory_path();
        }
        m_path = base / ("qlora-bench-" + std::to_string(::getpid()));
        std::filesystem::remove_all(m_path);
        std::filesystem::create_directories(m_path);
    }
    ~ScratchFolder() {
        std::error_code ec;  // never throws: a leftover folder is only disk space
        std::filesystem::remove_all(m_path, ec);
    }
    ScratchFolder(const ScratchFolder&) = delete;
    ScratchFolder& operator=(const ScratchFolder&) = delete;
    const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

void check_options(const TrainBenchOptions& o) {
    QLS_CHECK(ConfigError,
              o.micro_batch >= 1 && o.seq_len >= 2 && o.steps >= 1 && o.warmup >= 0 && o.gemm_reps >= 1,
              "bench train: micro-batch ", o.micro_batch, ", seq-len ", o.seq_len, ", steps ", o.steps,
              ", warm-up ", o.warmup, ", GEMM repetitions ", o.gemm_reps,
              ": expected at least 1, 2, 1, 0 and 1 (a step needs two tokens to predict one)");
}

void note_device_use(const Backend& backend, std::optional<std::int64_t>& peak) {
    const std::optional<std::int64_t> now = backend.device_bytes_in_use();
    if (now) peak = std::max(peak.value_or(0), *now);
}

// Loads and quantizes the checkpoint as a user's model is loaded (timed), then runs the warm-up
// and timed steps. Everything it allocates is freed when it returns.
void load_and_train(Backend& backend, const std::filesystem::path& folder, TrainBenchReport& r,
                    const std::function<void(std::string_view)>& log) {
    const TrainBenchOptions& o = r.options;
    const BaseWeightsOptions base_options{QuantType::NF4, true, 64, o.compute};
    LoraConfig lora_config;
    lora_config.rank = 16;
    lora_config.alpha = 32;
    lora_config.dropout = 0;
    AdamWConfig adamw;
    adamw.lr = 2e-4;
    adamw.max_grad_norm = 0.3;

    log("loading and quantizing it ...");
    const auto t_load = Clock::now();
    std::optional<Model> model = load_model(folder);
    DeviceBaseModel base(backend, *model, base_options);
    backend.synchronize();
    r.load_and_quantize_s = seconds_since(t_load);
    const LlamaConfig config = model->config;
    EstimateOptions eo;
    eo.base = base_options;
    eo.lora = lora_config;
    eo.micro_batch = o.micro_batch;
    eo.seq_len = o.seq_len;
    r.estimate = estimate_memory(*model, eo, backend);
    model.reset();  // the base is on the backend now; drop the file mapping

    LoraParameters lora(backend, config, lora_config);
    LlamaModel llama(backend, base, &lora, {o.micro_batch, o.seq_len, true, 0, o.compute});
    AdamWOptimizer optimizer(backend, lora.params(), adamw);
    note_device_use(backend, r.device_in_use_peak);
    log("training steps ...");
    for (std::int64_t s = 0; s < o.warmup + o.steps; ++s) {
        const Batch batch =
            random_batch(o.micro_batch, o.seq_len, config.vocab_size, static_cast<std::uint64_t>(s));
        const auto t0 = Clock::now();
        lora.zero_grads();
        llama.reset_loss();
        const auto trained = static_cast<float>(batch.trained_tokens());
        llama.forward_backward(batch, 1.0f / trained, static_cast<std::uint64_t>(s));
        const OptimizerStepResult step = optimizer.step(adamw.lr, llama.loss_sum());  // the step's one read
        const double dt = seconds_since(t0);
        note_device_use(backend, r.device_in_use_peak);
        if (s == 0) {
            r.first_loss = step.loss_sum / trained;
            // Random weights of this scale give near-uniform logits: the loss is about ln V.
            const double expected = std::log(static_cast<double>(config.vocab_size));
            QLS_CHECK(InternalError,
                      step.applied && std::isfinite(r.first_loss) &&
                          std::fabs(r.first_loss - expected) <= 0.1 * expected,
                      "bench train: the first step's loss is ", r.first_loss,
                      ", expected about ln V = ", expected, step.applied ? "" : " (update skipped: NaN/Inf)");
        }
        if (s >= o.warmup) r.step_s.push_back(dt);
    }
    r.memory = backend.memory().snapshot();
}

}  // namespace

TrainBenchReport run_train_bench(Backend& backend, const TrainBenchOptions& options,
                                 const std::function<void(std::string_view)>& log_fn) {
    check_options(options);
    const auto log = [&](std::string_view line) {
        if (log_fn) log_fn(line);
    };
    TrainBenchReport r;
    r.options = options;
    r.backend = backend.name();
    r.tokens_per_step = options.micro_batch * options.seq_len;
    const LlamaConfig config = benchmark_shape(options.shape);
    {
        log(str_cat("random ", options.shape, " weights, written as a bf16 checkpoint ..."));
        std::optional<Model> random = random_model(config, DType::BF16, 1);
        const ScratchFolder folder(options.scratch_dir, 2 * parameter_count(config));
        const auto t_write = Clock::now();
        r.checkpoint_bytes = write_model_folder(*random, folder.path());
        r.write_checkpoint_s = seconds_since(t_write);
        random.reset();  // what is timed next reads the file, not these
        load_and_train(backend, folder.path(), r, log);
    }
    std::vector<double> sorted = r.step_s;
    std::sort(sorted.begin(), sorted.end());
    r.median_step_s = sorted[sorted.size() / 2];
    r.tokens_per_s = static_cast<double>(r.tokens_per_step) / r.median_step_s;

    // The MLP's up projection at the step's token count: the shape that carries most of a
    // step's FLOPs, in the step's compute dtype. Measured after the run so that its buffers
    // are in none of the run's peaks.
    log("dense GEMM rate ...");
    r.gemm = measure_gemm_rate(backend, r.tokens_per_step, config.hidden_size, config.intermediate_size,
                               options.compute, options.gemm_reps);
    r.flops = step_flops(config, options.micro_batch, options.seq_len);
    r.useful_utilisation = r.flops.useful / r.median_step_s / r.gemm.flops_per_s;
    r.hardware_utilisation = r.flops.hardware / r.median_step_s / r.gemm.flops_per_s;
    return r;
}

}  // namespace qls
