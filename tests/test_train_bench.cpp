// qlora bench train's library side: the whole benchmark on the CPU backend with the tiny shape
// (load + quantize of a written bf16 checkpoint, timed steps, memory, GEMM rate, utilisation),
// the useful-FLOP count against the peer's own, and the peer table read from a sample of
// peer_qlora.py's peer_results.json (tests/fixtures/bench/README.md).
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/backend/cpu/cpu_backend.h"
#include "core/model/random_model.h"
#include "core/train/peer_comparison.h"
#include "core/train/step_flops.h"
#include "core/train/train_bench.h"
#include "core/train/train_bench_json.h"
#include "tests/test_support.h"

using namespace qls;

namespace {

std::filesystem::path sample() {
    return test::fixture_dir() / "bench" / "peer_results_sample.json";
}

nlohmann::json sample_json() {
    return nlohmann::json::parse(test::read_bytes(sample()));
}

const nlohmann::json& sample_run(const nlohmann::json& j, const std::string& model,
                                 const std::string& method) {
    for (const auto& r : j["runs"])
        if (r["model"] == model && r["method"] == method) return r;
    throw std::runtime_error("sample has no run " + model + "/" + method);
}

}  // namespace

class TestTrainBench : public QObject {
    Q_OBJECT
private slots:
    void tinyBenchOnCpu();
    void randomModelFolderLoadsBack();
    void stepFlopsAreThePeers();
    void peerTable();
    void peerFileErrors();
};

void TestTrainBench::tinyBenchOnCpu() {
    CpuBackend backend;
    const test::ScratchDir scratch;
    TrainBenchOptions o;
    o.shape = "tiny";
    o.micro_batch = 2;
    o.seq_len = 128;
    o.warmup = 1;
    o.steps = 2;
    o.scratch_dir = scratch.path();
    std::vector<std::string> log;
    const TrainBenchReport r = run_train_bench(backend, o, [&](std::string_view l) { log.emplace_back(l); });
    QVERIFY(!log.empty());
    QVERIFY2(std::filesystem::is_empty(scratch.path()), "the checkpoint folder is removed afterwards");

    const LlamaConfig c = benchmark_shape("tiny");
    QVERIFY(c.num_kv_heads < c.num_heads);  // GQA, as llama-1b
    QCOMPARE(r.tokens_per_step, std::int64_t{256});
    QCOMPARE(r.step_s.size(), std::size_t{2});
    QVERIFY(std::all_of(r.step_s.begin(), r.step_s.end(), [](double s) { return s > 0; }));
    QVERIFY(r.median_step_s == r.step_s[0] || r.median_step_s == r.step_s[1]);
    QVERIFY(r.tokens_per_s > 0);
    QCOMPARE(r.tokens_per_s, 256.0 / r.median_step_s);
    // run_train_bench itself throws unless the first loss is within 10% of ln V; here it must
    // also be finite and positive.
    QVERIFY(std::isfinite(r.first_loss) && r.first_loss > 0);

    // The checkpoint is the bf16 weights plus a JSON header of ~100 bytes per tensor (21 here);
    // 64 KiB bounds that header.
    const std::int64_t weight_bytes = 2 * parameter_count(c);
    QVERIFY2(r.checkpoint_bytes > weight_bytes && r.checkpoint_bytes < weight_bytes + 65536,
             qPrintable(QString::number(r.checkpoint_bytes)));
    QVERIFY(r.load_and_quantize_s > 0 && r.write_checkpoint_s > 0);

    // Memory: on the CPU backend the estimate is built from the very buffer plans the run
    // allocates, so the measured peaks equal it category by category.
    std::int64_t sum_of_peaks = 0, largest = 0;
    for (Usage u : kAllUsages) {
        if (!usage_on_device(u)) continue;
        QCOMPARE(r.memory.peak_of(u), r.estimate.of(u));
        sum_of_peaks += r.memory.peak_of(u);
        largest = std::max(largest, r.memory.peak_of(u));
    }
    QCOMPARE(r.memory.device_peak, r.estimate.device_total);
    QVERIFY(r.memory.device_peak >= largest && r.memory.device_peak <= sum_of_peaks);
    // The process's resident set holds at least the base weights, written in full on upload.
    QVERIFY(r.device_in_use_peak.has_value());
    QVERIFY(*r.device_in_use_peak > r.memory.peak_of(Usage::BaseWeights));

    // The GEMM: the MLP's up projection at the step's tokens, fp32 on the CPU.
    QCOMPARE(r.gemm.rows, std::int64_t{256});
    QCOMPARE(r.gemm.in, c.hidden_size);
    QCOMPARE(r.gemm.out, c.intermediate_size);
    QVERIFY(r.gemm.dtype == DType::F32);
    QVERIFY(r.gemm.best_s > 0 && r.gemm.best_s <= r.gemm.median_s);
    QCOMPARE(r.gemm.flops_per_s, 2.0 * 256 * 128 * 384 / r.gemm.best_s);
    // Utilisation: the step does the hardware FLOPs (and LoRA, norms, dequantization besides)
    // at no more than the best dense GEMM rate, so both fractions lie in (0, 1].
    QVERIFY2(r.useful_utilisation > 0 && r.useful_utilisation < r.hardware_utilisation &&
                 r.hardware_utilisation <= 1.0,
             qPrintable(QString("%1 %2").arg(r.useful_utilisation).arg(r.hardware_utilisation)));

    const nlohmann::json j = train_bench_json(r);
    QCOMPARE(j["shape"].get<std::string>(), std::string("tiny"));
    QCOMPARE(j["tokens_per_s"].get<double>(), r.tokens_per_s);
    QCOMPARE(j["step_s"].size(), std::size_t{2});
    QCOMPARE(j["peak_bytes"].get<std::int64_t>(), r.memory.device_peak);
    QCOMPARE(j["device_in_use_peak_bytes"].get<std::int64_t>(), *r.device_in_use_peak);
    QCOMPARE(j["peak_by_category"]["base weights"].get<std::int64_t>(), r.memory.peak_of(Usage::BaseWeights));
    QCOMPARE(j["load_and_quantize_s"].get<double>(), r.load_and_quantize_s);
    QCOMPARE(j["useful_flops_utilisation"].get<double>(), r.useful_utilisation);
    QCOMPARE(j["gemm"]["flops_per_s"].get<double>(), r.gemm.flops_per_s);
    QCOMPARE(j["flops"]["useful"].get<double>(), r.flops.useful);
}

// What the bench times loading is a folder a user could open: config.json + model.safetensors.
void TestTrainBench::randomModelFolderLoadsBack() {
    const test::ScratchDir scratch;
    const Model m = random_model(benchmark_shape("tiny"), DType::BF16, 3);
    write_model_folder(m, scratch.path() / "tiny");
    const Model back = load_model(scratch.path() / "tiny");
    const LlamaConfig &a = m.config, &b = back.config;
    QCOMPARE(b.hidden_size, a.hidden_size);
    QCOMPARE(b.intermediate_size, a.intermediate_size);
    QCOMPARE(b.num_layers, a.num_layers);
    QCOMPARE(b.num_heads, a.num_heads);
    QCOMPARE(b.num_kv_heads, a.num_kv_heads);
    QCOMPARE(b.head_dim, a.head_dim);
    QCOMPARE(b.vocab_size, a.vocab_size);
    QCOMPARE(b.tie_word_embeddings, a.tie_word_embeddings);
    QCOMPARE(b.dtype, std::string("bfloat16"));
    QCOMPARE(back.weights.tensors.size(), m.weights.tensors.size());
    for (const auto& [name, w] : m.weights.tensors) {
        const Weight& v = back.weights.get(name);
        QVERIFY(v.view.dtype == DType::BF16 && v.shape == w.shape);
        QVERIFY2(std::equal(w.view.data.begin(), w.view.data.end(), v.view.data.begin(), v.view.data.end()),
                 name.c_str());
    }
}

// Our useful and hardware FLOPs per step are the peer's flop_model() (the sample's "flops" are
// its output for both shapes): integers below 2^53, exact in doubles (QCOMPARE allows 1e-12).
void TestTrainBench::stepFlopsAreThePeers() {
    const nlohmann::json j = sample_json();
    for (const char* shape : {"llama-1b", "llama-7b"}) {
        const nlohmann::json& peer = sample_run(j, shape, "qlora")["flops"];
        const StepFlops f = step_flops(benchmark_shape(shape), 2, 2048);
        QCOMPARE(f.linear_params, peer["n_linear"].get<double>());
        QCOMPARE(f.layer_linear_params, peer["n_layers_linear"].get<double>());
        QCOMPARE(f.attention_forward, peer["attn_fwd_flops"].get<double>());
        QCOMPARE(f.useful, peer["useful_flops"].get<double>());
        QCOMPARE(f.hardware, peer["hardware_flops"].get<double>());
    }
}

void TestTrainBench::peerTable() {
    const PeerResults peer = read_peer_results(sample());
    QCOMPARE(peer.gpu, std::string("NVIDIA H100 80GB HBM3"));
    QCOMPARE(*peer.gemm_tflops, 780.0);
    QCOMPARE(*peer.copy_gbps, 3000.0);
    QCOMPARE(peer.runs.size(), std::size_t{4});
    const PeerRun& run = find_peer_run(peer, "llama-7b", "qlora");
    QCOMPARE(run.tokens_per_s, 5283.0);
    QCOMPARE(run.median_step_s, 0.775);
    QCOMPARE(run.peak_allocated_gib, 8.50);
    QCOMPARE(run.peak_reserved_gib, 10.18);
    QCOMPARE(*run.load_quantize_s, 3.4);
    QVERIFY(!find_peer_run(peer, "llama-7b", "lora-bf16").load_quantize_s);

    TrainBenchReport ours;
    ours.options.shape = "llama-7b";
    ours.median_step_s = 0.25;
    ours.tokens_per_s = 4096 / 0.25;
    ours.memory.device_peak = std::int64_t{5} << 30;
    ours.device_in_use_peak = std::int64_t{6} << 30;
    ours.load_and_quantize_s = 1.7;
    ours.useful_utilisation = 0.5;
    ours.gemm.flops_per_s = 702e12;
    const std::vector<ComparisonRow> rows = compare_with_peer(ours, peer, run);
    QCOMPARE(rows.size(), std::size_t{7});
    const auto row = [&](const std::string& what) {
        const auto it =
            std::find_if(rows.begin(), rows.end(), [&](const ComparisonRow& r) { return r.what == what; });
        if (it == rows.end()) throw std::runtime_error("no row " + what);
        return *it;
    };
    QCOMPARE(row("tokens/s").ours, 16384.0);
    QCOMPARE(row("tokens/s").ratio(), 16384.0 / 5283.0);
    QVERIFY(row("tokens/s").higher_is_better);
    QCOMPARE(row("step (s, median)").ratio(), 0.25 / 0.775);
    QVERIFY(!row("step (s, median)").higher_is_better);
    QCOMPARE(row("peak allocated (GiB)").ours, 5.0);
    QCOMPARE(row("peak allocated (GiB)").peer, 8.50);
    QCOMPARE(row("device in use / reserved (GiB)").ratio(), 6.0 / 10.18);
    QCOMPARE(row("load + quantize (s)").ratio(), 1.7 / 3.4);
    QCOMPARE(row("useful-FLOP utilisation").peer, *run.useful_flops_utilisation);
    QCOMPARE(row("dense GEMM (TFLOP/s)").ours, 702.0);
    QCOMPARE(row("dense GEMM (TFLOP/s)").ratio(), 0.9);

    // A backend that cannot tell the device's bytes in use, and a run without load time.
    ours.device_in_use_peak.reset();
    const std::vector<ComparisonRow> fewer =
        compare_with_peer(ours, peer, find_peer_run(peer, "llama-7b", "lora-bf16"));
    QCOMPARE(fewer.size(), std::size_t{5});
    QVERIFY(std::none_of(fewer.begin(), fewer.end(), [](const ComparisonRow& r) {
        return r.what.starts_with("device in use") || r.what.starts_with("load");
    }));

    const nlohmann::json j = peer_comparison_json(peer, run, rows);
    QCOMPARE(j["gpu"].get<std::string>(), peer.gpu);
    QCOMPARE(j["model"].get<std::string>(), std::string("llama-7b"));
    QCOMPARE(j["rows"].size(), rows.size());
    QCOMPARE(j["rows"][0]["ratio"].get<double>(), rows[0].ratio());
    QCOMPARE(j["ceilings"]["bf16_gemm_tflops"].get<double>(), 780.0);
    QCOMPARE(j["ceilings"]["copy_gbps"].get<double>(), 3000.0);
}

void TestTrainBench::peerFileErrors() {
    const PeerResults peer = read_peer_results(sample());
    try {
        find_peer_run(peer, "tiny", "qlora");
        QFAIL("expected ConfigError");
    } catch (const ConfigError& e) {
        const std::string m = e.what();
        QVERIFY2(m.find("no qlora run of tiny") != std::string::npos &&
                     m.find("llama-7b/qlora") != std::string::npos,
                 e.what());
    }
    nlohmann::json j = sample_json();
    j["runs"][1].erase("tokens_per_s");
    try {
        parse_peer_results(j, "peer.json");
        QFAIL("expected FormatError");
    } catch (const FormatError& e) {
        const std::string m = e.what();
        QVERIFY2(m.find("runs[1]") != std::string::npos &&
                     m.find("'tokens_per_s' is missing") != std::string::npos,
                 e.what());
    }
    QVERIFY_THROWS_EXCEPTION(FormatError, parse_peer_results(nlohmann::json::object(), "peer.json"));
    QVERIFY_THROWS_EXCEPTION(IoError, read_peer_results(test::fixture_dir() / "bench" / "missing.json"));
}

QTEST_GUILESS_MAIN(TestTrainBench)
#include "test_train_bench.moc"
