// The memory estimate against what the accountant measures on the CPU backend during a real
// forward/backward step, for several shapes and base formats; the same estimate from config.json
// alone; the GPU list; the largest micro-batch / sequence length that fits; `qlora estimate`.
#include <QtTest>

#include <bit>

#include "core/backend/cpu/cpu_backend.h"
#include "core/model/llama_model.h"
#include "core/model/model_loader.h"
#include "core/train/adamw_optimizer.h"
#include "core/train/fit_search.h"
#include "core/train/gpu_presets.h"
#include "core/train/offload_choice.h"
#include "core/train/memory_estimate.h"
#include "test_support.h"

#include <nlohmann/json.hpp>

using namespace qls;
using qls::test::ref_dir;

namespace {

// Every row trained: the worst case the plan is made for (the LM head and, with 16-bit compute,
// the CPU's fp32 copies of its logits grow with the trained rows).
Batch every_row_trained(std::int64_t batch, std::int64_t seq, std::int64_t vocab) {
    Batch b;
    b.batch = batch;
    b.seq_len = seq;
    for (std::int64_t i = 0; i < batch * seq; ++i) {
        b.tokens.push_back(static_cast<std::int32_t>((i * 7 + 3) % vocab));
        b.targets.push_back(static_cast<std::int32_t>((i * 11 + 1) % vocab));
        b.positions.push_back(static_cast<std::int32_t>(i % seq));
        b.segments.push_back(0);
    }
    return b;
}

// Rank 8, micro-batch 1, the MLP whole, with a budget that `seq` tokens fit exactly.
EstimateOptions fitting_exactly(const ModelLayout& layout, DType compute, std::int64_t seq, const Backend& backend) {
    EstimateOptions o;
    o.base.compute = compute;
    o.lora.rank = 8;
    o.micro_batch = 1;
    o.seq_len = seq;
    o.mlp_chunk = 0;
    o.device_bytes = estimate_memory(layout, o, backend).device_total;
    return o;
}

}  // namespace

class TestEstimate : public QObject {
    Q_OBJECT
private slots:
    void planPhasesShareBytes();
    void matchesMeasuredPeak_data();
    void matchesMeasuredPeak();
    void verdict();
    void configOnlyMatchesLoaded_data();
    void configOnlyMatchesLoaded();
    void gpuPresets();
    void fitSearch_data();
    void fitSearch();
    void fitSearchEnds();
    void longestSeqWithOffload_data();
    void longestSeqWithOffload();
    void longestSeqWithMlpChunks_data();
    void longestSeqWithMlpChunks();
    void cliLongestSeq();
    void cliOpsPlannedAs();
    void offloadChoice();
    void cliConfigOnly();
};

void TestEstimate::matchesMeasuredPeak_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<int>("quant");  // -1 dense, else QuantType
    QTest::addColumn<int>("batch");
    QTest::addColumn<int>("seq");
    QTest::addColumn<bool>("checkpointing");
    QTest::addColumn<int>("rank");
    QTest::addColumn<int>("budget_kib");  // optimizer state on the device; 0: all of it
    QTest::addColumn<int>("compute");     // DType
    QTest::addColumn<bool>("offload");    // checkpoints offloaded to the host
    QTest::addColumn<int>("mlp_chunk");   // rows of each MLP chunk; 0: all
    const int f32 = static_cast<int>(DType::F32), bf16 = static_cast<int>(DType::BF16);
    const int f16 = static_cast<int>(DType::F16);
    QTest::newRow("llama3 nf4 1x64 ckpt") << "models/llama3-tiny" << 0 << 1 << 64 << true << 8 << 0 << f32 << false << 0;
    QTest::newRow("llama3 nf4 4x128 full paged") << "models/llama3-tiny" << 0 << 4 << 128 << false << 16 << 64 << f32 << false << 0;
    QTest::newRow("qwen2 fp4 2x96 ckpt") << "models/qwen2-tiny" << 1 << 2 << 96 << true << 4 << 0 << f32 << false << 0;
    QTest::newRow("bf16 sharded dense 3x50") << "models/llama3-tiny-bf16-sharded" << -1 << 3 << 50 << true << 8 << 0 << f32 << false << 0;
    QTest::newRow("bnb nf4-dq 2x40 full paged") << "bnb/llama3-tiny-nf4-dq" << -1 << 2 << 40 << false << 8 << 32 << f32 << false << 0;
    QTest::newRow("llama3 nf4 1x64 ckpt bf16") << "models/llama3-tiny" << 0 << 1 << 64 << true << 8 << 0 << bf16 << false << 0;
    QTest::newRow("llama3 nf4 4x128 full paged bf16") << "models/llama3-tiny" << 0 << 4 << 128 << false << 16 << 64 << bf16 << false << 0;
    QTest::newRow("qwen2 fp4 2x96 ckpt fp16") << "models/qwen2-tiny" << 1 << 2 << 96 << true << 4 << 0 << f16 << false << 0;
    QTest::newRow("bf16 sharded dense 3x50 fp16") << "models/llama3-tiny-bf16-sharded" << -1 << 3 << 50 << true << 8 << 0 << f16 << false << 0;
    QTest::newRow("llama3 nf4 2x64 ckpt offload") << "models/llama3-tiny" << 0 << 2 << 64 << true << 8 << 0 << f32 << true << 0;
    QTest::newRow("llama3 nf4 4x128 ckpt offload paged bf16") << "models/llama3-tiny" << 0 << 4 << 128 << true << 16 << 64 << bf16 << true << 0;
    QTest::newRow("llama3 nf4 4x128 ckpt mlp-chunk 100 bf16") << "models/llama3-tiny" << 0 << 4 << 128 << true << 16 << 0 << bf16 << false << 100;
    QTest::newRow("llama3 nf4 2x64 ckpt offload mlp-chunk 48") << "models/llama3-tiny" << 0 << 2 << 64 << true << 8 << 0 << f32 << true << 48;
}

void TestEstimate::matchesMeasuredPeak() {
    QFETCH(QString, model);
    QFETCH(int, quant);
    QFETCH(int, batch);
    QFETCH(int, seq);
    QFETCH(bool, checkpointing);
    QFETCH(int, rank);
    QFETCH(int, budget_kib);
    QFETCH(int, compute);
    QFETCH(bool, offload);
    QFETCH(int, mlp_chunk);
    const Model m = load_model(ref_dir() / model.toStdString());
    EstimateOptions o;
    if (quant < 0)
        o.base.quant.reset();
    else
        o.base.quant = static_cast<QuantType>(quant);
    o.base.compute = static_cast<DType>(compute);
    o.lora.rank = rank;
    o.lora.dropout = 0.1;
    o.micro_batch = batch;
    o.seq_len = seq;
    o.checkpointing = checkpointing;
    o.offload_checkpoints = offload;
    o.mlp_chunk = mlp_chunk;
    o.paging.page_bytes = 16 << 10;
    o.paging.device_budget_bytes = std::int64_t(budget_kib) << 10;
    CpuBackend backend;
    const MemoryEstimate e = estimate_memory(m, o, backend);
    // 3 layers, 3 device slots: input 0 waits on the host.
    QCOMPARE(e.offload_host, offload ? std::int64_t(batch) * seq * m.config.hidden_size * std::int64_t(dtype_size(o.base.compute)) : 0);
    DeviceBaseModel base(backend, m, o.base);
    LoraParameters lora(backend, m.config, o.lora);
    QCOMPARE(e.mlp_chunk, std::int64_t(mlp_chunk ? mlp_chunk : batch * seq));
    LlamaModel llama(backend, base, &lora, {batch, seq, checkpointing, 0, o.base.compute, offload, mlp_chunk});
    const Batch b = every_row_trained(batch, seq, m.config.vocab_size);
    AdamWOptimizer optimizer(backend, lora.params(), AdamWConfig{}, o.paging);
    llama.forward_backward(b, 1e-3f, 7);
    QVERIFY(optimizer.step(1e-4).applied);
    const MemorySnapshot s = backend.memory().snapshot();
    for (Usage u : kAllUsages) {
        const double measured = static_cast<double>(s.peak_of(u));
        const double estimated = static_cast<double>(e.of(u));
        qInfo() << usage_name(u).data() << "estimated" << estimated << "measured" << measured;
        // Built from the very buffer plans the model, the optimizer and the backend allocate
        // (and the backend's own workspace query): any difference is a bug, so none is allowed.
        QVERIFY2(estimated == measured,
                 qPrintable(QString("%1: estimated %2, measured %3").arg(usage_name(u).data()).arg(estimated).arg(measured)));
    }
    const double total = static_cast<double>(e.device_total);
    QCOMPARE(total, static_cast<double>(s.device_peak));
}

void TestEstimate::verdict() {
    const Model m = load_model(ref_dir() / "models" / "llama3-tiny");
    EstimateOptions o;
    o.seq_len = 256;
    o.device_bytes = 64ll << 20;
    MemoryEstimate fits = estimate_memory(m, o, CpuBackend());
    QVERIFY(fits.fits);
    QVERIFY(fits.verdict.starts_with("fits"));
    o.device_bytes = 1 << 20;
    o.checkpointing = false;
    MemoryEstimate tight = estimate_memory(m, o, CpuBackend());
    QVERIFY(!tight.fits);
    QVERIFY2(tight.verdict.find("checkpointing") != std::string::npos, tight.verdict.c_str());
    QVERIFY(tight.activations_full > tight.activations_checkpointed);
    o.micro_batch = 0;
    QVERIFY_THROWS_EXCEPTION(ConfigError, estimate_memory(m, o, CpuBackend()));
}

// Tensors of phases that never live together share bytes: each phase starts where the first
// began, what follows starts after the longest (offsets 256-aligned as every plan's).
void TestEstimate::planPhasesShareBytes() {
    CpuBackend backend;
    BufferPlan plan;
    const std::size_t always = plan.add("always", DType::F32, {100});  // 400 bytes, then 256-aligned
    plan.begin_phases();
    const std::size_t a1 = plan.add("a1", DType::F32, {1000});
    const std::size_t a2 = plan.add("a2", DType::F32, {10});
    plan.next_phase();
    const std::size_t b1 = plan.add("b1", DType::F32, {64});
    plan.end_phases();
    const std::size_t after = plan.add("after", DType::F32, {1});
    QCOMPARE(plan.total_bytes(), std::size_t(512 + 4096 + 256 + 4));
    const Buffer buf = plan.allocate(backend, Usage::Workspace, "phases");
    QCOMPARE(plan.tensor(buf, a1).data, plan.tensor(buf, b1).data);
    QCOMPARE(plan.tensor(buf, a1).data - plan.tensor(buf, always).data, std::ptrdiff_t(512));
    QCOMPARE(plan.tensor(buf, a2).data - plan.tensor(buf, a1).data, std::ptrdiff_t(4096));
    QCOMPARE(plan.tensor(buf, after).data - plan.tensor(buf, a2).data, std::ptrdiff_t(256));
}

namespace {

// config.json alone in a scratch folder: a model whose weights are not downloaded.
std::filesystem::path config_only_copy(const qls::test::ScratchDir& dir, const std::filesystem::path& model) {
    const auto folder = dir.path() / model.filename();
    std::filesystem::create_directories(folder);
    std::filesystem::copy_file(model / "config.json", folder / "config.json");
    return folder;
}

}  // namespace

void TestEstimate::configOnlyMatchesLoaded_data() {
    QTest::addColumn<QString>("model");
    for (const char* m : {"models/llama3-tiny", "models/llama3-tiny-bf16-sharded", "models/mistral-tiny",
                          "models/qwen2-tiny", "bnb/llama3-tiny-nf4-dq", "bnb/llama3-tiny-fp4"})
        QTest::newRow(m) << m;
}

// Every category, for every base format and compute dtype: identical bytes, because the estimate
// reads only what config.json also says (shapes, tied embeddings, dtype, quantization_config).
void TestEstimate::configOnlyMatchesLoaded() {
    QFETCH(QString, model);
    const auto full = ref_dir() / model.toStdString();
    const qls::test::ScratchDir dir;
    const auto folder = config_only_copy(dir, full);
    QVERIFY(is_config_only_folder(folder));
    QVERIFY(!is_config_only_folder(full));
    const ModelLayout loaded = open_model_layout(full);
    const ModelLayout described = open_model_layout(folder);
    QVERIFY(!loaded.config_only);
    QVERIFY(described.config_only);
    QVERIFY(open_model_layout(folder / "config.json").config_only);
    QCOMPARE(described.name, loaded.name);
    CpuBackend backend;
    for (const std::optional<QuantType> quant : {std::optional(QuantType::NF4), std::optional(QuantType::FP4),
                                                 std::optional<QuantType>()})
        for (const bool dq : {true, false})
            for (const DType compute : {DType::F32, DType::BF16, DType::F16}) {
                EstimateOptions o;
                o.base.quant = quant;
                o.base.double_quant = dq;
                o.base.compute = compute;
                o.lora.rank = 8;
                o.lora.targets = {LoraTarget::Q, LoraTarget::V, LoraTarget::Down};
                o.micro_batch = 3;
                o.seq_len = 40;
                o.device_bytes = 8 << 20;
                const MemoryEstimate a = estimate_memory(load_model(full), o, backend);
                const MemoryEstimate b = estimate_memory(described, o, backend);
                for (Usage u : kAllUsages) QCOMPARE(b.of(u), a.of(u));
                QCOMPARE(b.device_total, a.device_total);
                QCOMPARE(b.activations_full, a.activations_full);
                QCOMPARE(b.verdict, a.verdict);
            }
}

void TestEstimate::gpuPresets() {
    constexpr std::int64_t gib = std::int64_t(1) << 30;
    QCOMPARE(gpu_presets().size(), std::size_t(8));
    QCOMPARE(parse_gpu("rtx4090").total_bytes, 24 * gib);
    QCOMPARE(parse_gpu("RTX 4090").id, std::string("rtx4090"));
    QCOMPARE(parse_gpu("A100-80GB").id, std::string("a100-80"));
    QCOMPARE(parse_gpu("a100_40").total_bytes, 40 * gib);
    QCOMPARE(parse_gpu("H200").total_bytes, 141 * gib);
    QCOMPARE(parse_gpu("t4").usable_bytes(), 16 * gib - kCudaContextReserveBytes);
    QVERIFY(!parse_gpu("t4").bf16);
    QVERIFY(parse_gpu("l4").bf16);
    for (const char* bad : {"a100", "rtx5090", "", "4090"}) {
        try {
            parse_gpu(bad);
            QFAIL(bad);
        } catch (const ConfigError& e) {
            const std::string m = e.what();
            QVERIFY2(m.find("h200") != std::string::npos && m.find(bad) != std::string::npos, e.what());
        }
    }
    QCOMPARE(detected_gpu("NVIDIA H200", 150 * gib, true).usable_bytes(), 149 * gib);
}

void TestEstimate::fitSearch_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<int>("dimension");
    QTest::addColumn<int>("compute");
    QTest::addColumn<bool>("configOnly");
    const int mb = int(FitDimension::MicroBatch), sl = int(FitDimension::SeqLen);
    QTest::newRow("llama3 micro-batch fp32") << "models/llama3-tiny" << mb << int(DType::F32) << false;
    QTest::newRow("llama3 seq-len bf16") << "models/llama3-tiny" << sl << int(DType::BF16) << false;
    QTest::newRow("qwen2 micro-batch config-only") << "models/qwen2-tiny" << mb << int(DType::BF16) << true;
    QTest::newRow("bnb seq-len config-only") << "bnb/llama3-tiny-nf4-dq" << sl << int(DType::F16) << true;
}

// The value found fits and the next does not, by the very estimator the page and CLI show.
void TestEstimate::fitSearch() {
    QFETCH(QString, model);
    QFETCH(int, dimension);
    QFETCH(int, compute);
    QFETCH(bool, configOnly);
    const auto full = ref_dir() / model.toStdString();
    const qls::test::ScratchDir dir;
    const ModelLayout layout = open_model_layout(configOnly ? config_only_copy(dir, full) : full);
    const auto d = static_cast<FitDimension>(dimension);
    EstimateOptions o;
    o.base.compute = static_cast<DType>(compute);
    o.micro_batch = 2;
    o.seq_len = 16;
    CpuBackend backend;
    // A device between what the settings need and what 7x the searched dimension would need.
    EstimateOptions big = o;
    (d == FitDimension::MicroBatch ? big.micro_batch : big.seq_len) *= 7;
    o.device_bytes = (estimate_memory(layout, o, backend).device_total + estimate_memory(layout, big, backend).device_total) / 2;
    const FitResult r = fit_largest(layout, o, d, backend);
    QVERIFY2(r.value > (d == FitDimension::MicroBatch ? o.micro_batch : o.seq_len), qPrintable(QString::number(r.value)));
    QVERIFY(r.value < (d == FitDimension::MicroBatch ? big.micro_batch : big.seq_len));
    QVERIFY(r.estimate.fits);
    auto at = [&](std::int64_t v) {
        EstimateOptions x = o;
        (d == FitDimension::MicroBatch ? x.micro_batch : x.seq_len) = v;
        return estimate_memory(layout, x, backend);
    };
    QVERIFY(at(r.value).fits);
    QCOMPARE(at(r.value).device_total, r.estimate.device_total);
    QVERIFY(!at(r.value + 1).fits);
}

void TestEstimate::fitSearchEnds() {
    const ModelLayout layout = open_model_layout(ref_dir() / "models" / "llama3-tiny");
    CpuBackend backend;
    EstimateOptions o;
    o.device_bytes = 1 << 10;
    const FitResult none = fit_largest(layout, o, FitDimension::MicroBatch, backend);
    QCOMPARE(none.value, std::int64_t(0));
    QVERIFY(!none.estimate.fits);
    o.micro_batch = 1;
    o.device_bytes = std::int64_t(1) << 40;  // the whole context fits: the search stops there
    const FitResult all = fit_largest(layout, o, FitDimension::SeqLen, backend);
    QCOMPARE(all.value, layout.config.max_position_embeddings);
    QVERIFY(all.at_limit());
    o.device_bytes = 0;
    QVERIFY_THROWS_EXCEPTION(ConfigError, fit_largest(layout, o, FitDimension::SeqLen, backend));
    QCOMPARE(parse_fit_dimension("seq-len"), std::optional(FitDimension::SeqLen));
    QVERIFY(!parse_fit_dimension("batch"));
}

void TestEstimate::longestSeqWithOffload_data() {
    QTest::addColumn<int>("compute");
    QTest::newRow("fp32") << int(DType::F32);
    QTest::newRow("bf16") << int(DType::BF16);
}

// The longest sequence with offloaded checkpoints is longer than without, found to the token
// (the search's granularity): at it the planned peak fits the budget, one token more does not;
// and a real step at that length on the CPU twin peaks at exactly the planned bytes, within the
// budget, with the planned host memory for the checkpoints.
void TestEstimate::longestSeqWithOffload() {
    QFETCH(int, compute);
    const auto dir = ref_dir() / "models" / "llama3-tiny";
    const ModelLayout layout = open_model_layout(dir);
    CpuBackend backend;
    // Offload alone (longestSeqWithMlpChunks has chunks); 300 tokens fit exactly without it.
    EstimateOptions o = fitting_exactly(layout, static_cast<DType>(compute), 300, backend);
    const FitResult plain = fit_largest(layout, o, FitDimension::SeqLen, backend);
    QCOMPARE(plain.value, std::int64_t(300));
    o.offload_checkpoints = true;
    const FitResult off = fit_largest(layout, o, FitDimension::SeqLen, backend);
    QVERIFY2(off.value > plain.value, qPrintable(QString("%1 vs %2").arg(off.value).arg(plain.value)));
    auto at = [&](std::int64_t seq) {
        EstimateOptions x = o;
        x.seq_len = seq;
        return estimate_memory(layout, x, backend);
    };
    QVERIFY(at(off.value).fits);
    QVERIFY(!at(off.value + 1).fits);
    // 3 layers, 3 device slots: layer 0's input waits on the host.
    const auto row = layout.config.hidden_size * std::int64_t(dtype_size(o.base.compute));
    QCOMPARE(off.estimate.offload_host, off.value * row);

    const Model m = load_model(dir);
    DeviceBaseModel base(backend, m, o.base);
    LoraParameters lora(backend, m.config, o.lora);
    LlamaModel llama(backend, base, &lora, {1, off.value, true, 0, o.base.compute, true});
    AdamWOptimizer optimizer(backend, lora.params(), AdamWConfig{}, o.paging);
    const Batch b = every_row_trained(1, off.value, m.config.vocab_size);
    llama.forward_backward(b, 1e-3f, 7);
    QVERIFY(optimizer.step(1e-4).applied);
    const MemorySnapshot s = backend.memory().snapshot();
    QCOMPARE(s.device_peak, off.estimate.device_total);
    QVERIFY(s.device_peak <= o.device_bytes);
    QCOMPARE(s.peak_of(Usage::PagedHost), off.estimate.of(Usage::PagedHost));
}

void TestEstimate::longestSeqWithMlpChunks_data() { longestSeqWithOffload_data(); }

// With the MLP chunks chosen by the estimate (the default), the longest sequence at a budget
// where 600 tokens fit whole is longer; at it the chunk is the largest power of two (from 256)
// that fits, the whole MLP does not, one token more does not fit at all; and a real step there
// on the CPU twin peaks at exactly the planned bytes, within the budget.
void TestEstimate::longestSeqWithMlpChunks() {
    QFETCH(int, compute);
    const auto dir = ref_dir() / "models" / "llama3-tiny";
    const ModelLayout layout = open_model_layout(dir);
    CpuBackend backend;
    EstimateOptions o = fitting_exactly(layout, static_cast<DType>(compute), 600, backend);
    QCOMPARE(fit_largest(layout, o, FitDimension::SeqLen, backend).value, std::int64_t(600));
    o.mlp_chunk = EstimateOptions::kMlpChunkAuto;
    const FitResult chunked = fit_largest(layout, o, FitDimension::SeqLen, backend);
    QVERIFY2(chunked.value > 600, qPrintable(QString::number(chunked.value)));
    const std::int64_t rows = chunked.estimate.mlp_chunk;
    QVERIFY2(rows >= EstimateOptions::kMinMlpChunk && std::has_single_bit(std::uint64_t(rows)) && rows < chunked.value,
             qPrintable(QString::number(rows)));
    auto at = [&](std::int64_t seq, std::int64_t mlp_chunk) {
        EstimateOptions x = o;
        x.seq_len = seq;
        x.mlp_chunk = mlp_chunk;
        return estimate_memory(layout, x, backend);
    };
    QVERIFY(at(chunked.value, rows).fits);
    QVERIFY(!at(chunked.value, 0).fits);
    if (2 * rows < chunked.value) QVERIFY(!at(chunked.value, 2 * rows).fits);
    QVERIFY(!at(chunked.value + 1, EstimateOptions::kMlpChunkAuto).fits);
    QVERIFY2(chunked.estimate.verdict.ends_with(str_cat("the MLP in chunks of ", rows, " rows")),
             chunked.estimate.verdict.c_str());

    const Model m = load_model(dir);
    DeviceBaseModel base(backend, m, o.base);
    LoraParameters lora(backend, m.config, o.lora);
    LlamaModel llama(backend, base, &lora, {1, chunked.value, true, 0, o.base.compute, false, rows});
    AdamWOptimizer optimizer(backend, lora.params(), AdamWConfig{}, o.paging);
    const Batch b = every_row_trained(1, chunked.value, m.config.vocab_size);
    llama.forward_backward(b, 1e-3f, 7);
    QVERIFY(optimizer.step(1e-4).applied);
    const MemorySnapshot s = backend.memory().snapshot();
    QCOMPARE(s.device_peak, chunked.estimate.device_total);
    QVERIFY(s.device_peak <= o.device_bytes);
}

// "auto" offloads only when the run does not fit without it and does with less; on and off are
// taken as said; anything else is refused.
void TestEstimate::offloadChoice() {
    const ModelLayout layout = open_model_layout(ref_dir() / "models" / "llama3-tiny");
    CpuBackend backend;
    EstimateOptions o;
    o.seq_len = 256;
    QVERIFY(!choose_offload("auto", layout, o, backend).offload);  // no budget: nothing to fit
    QVERIFY(choose_offload("on", layout, o, backend).offload);
    QVERIFY(!choose_offload("off", layout, o, backend).offload);
    QVERIFY_THROWS_EXCEPTION(ConfigError, choose_offload("yes", layout, o, backend));
    const std::int64_t without = estimate_memory(layout, o, backend).device_total;
    o.device_bytes = without;
    QVERIFY(!choose_offload("auto", layout, o, backend).offload);
    o.device_bytes = without - 1;
    const OffloadChoice tight = choose_offload("auto", layout, o, backend);
    QVERIFY(tight.offload);
    QVERIFY2(tight.reason.starts_with("offloading checkpoints to host memory"), tight.reason.c_str());
    o.checkpointing = false;  // every activation stays: offload has nothing to move
    QVERIFY(!choose_offload("auto", layout, o, backend).offload);
}

// `qlora estimate --longest-seq` gives the core search's answers, with and without offload.
void TestEstimate::cliLongestSeq() {
    const QString qlora = QString::fromStdString(std::string(QLS_BINARY_DIR) + "/bin/qlora");
    QVERIFY2(QFileInfo::exists(qlora), "build the qlora target first");
    const auto dir = ref_dir() / "models" / "llama3-tiny";
    QProcess p;
    p.start(qlora, {"estimate", QString::fromStdString(dir.string()), "--device", "cpu", "--device-gib", "0.01",
                    "--rank", "8", "--micro-batch", "1", "--longest-seq", "--json"});
    QVERIFY(p.waitForFinished(120000));
    QCOMPARE(p.exitCode(), 0);
    const auto j = nlohmann::json::parse(p.readAllStandardOutput().toStdString()).at("longest_seq");
    const ModelLayout layout = open_model_layout(dir);
    EstimateOptions o;
    o.lora.rank = 8;
    o.micro_batch = 1;
    o.device_bytes = static_cast<std::int64_t>(0.01 * double(1ll << 30));
    CpuBackend backend;
    QCOMPARE(j.at("plain").get<std::int64_t>(), fit_largest(layout, o, FitDimension::SeqLen, backend).value);
    o.offload_checkpoints = true;
    const FitResult off = fit_largest(layout, o, FitDimension::SeqLen, backend);
    QCOMPARE(j.at("offloaded").at("value").get<std::int64_t>(), off.value);
    QCOMPARE(j.at("offloaded").at("offload_host_bytes").get<std::int64_t>(), off.estimate.offload_host);
    QCOMPARE(j.at("granularity").get<int>(), 1);
}

// `qlora estimate --ops cuda` plans the workspace as the CUDA backend runs its ops on a machine
// without a GPU (this build's CUDA planner): no fp32 copies of a 16-bit step, cuBLAS's workspace
// instead; a build without CUDA says it cannot. The rest of the estimate is the same.
void TestEstimate::cliOpsPlannedAs() {
    const QString qlora = QString::fromStdString(std::string(QLS_BINARY_DIR) + "/bin/qlora");
    QVERIFY2(QFileInfo::exists(qlora), "build the qlora target first");
    const QString dir = QString::fromStdString((ref_dir() / "models" / "llama3-tiny").string());
    auto run = [&](const QString& ops) {
        QProcess p;
        p.start(qlora, {"estimate", dir, "--device", "cpu", "--device-gib", "1", "--compute-dtype", "bf16", "--ops", ops,
                        "--json"});
        p.waitForFinished(120000);
        return std::tuple{p.exitCode(), p.readAllStandardOutput(), p.readAllStandardError()};
    };
    const auto [cpu_rc, cpu_out, cpu_err] = run("cpu");
    QCOMPARE(cpu_rc, 0);
    const auto cpu = nlohmann::json::parse(cpu_out.toStdString());
    QCOMPARE(cpu.at("ops_planned_as").get<std::string>(), std::string("cpu"));
    const auto [cuda_rc, cuda_out, cuda_err] = run("cuda");
    if (cuda_rc != 0) {
        QVERIFY2(cuda_err.contains("this build has no CUDA backend"), cuda_err.constData());
        return;
    }
    const auto cuda = nlohmann::json::parse(cuda_out.toStdString());
    QCOMPARE(cuda.at("ops_planned_as").get<std::string>(), std::string("cuda"));
    for (const char* same : {"base weights", "LoRA weights", "optimizer state", "activations"})
        QCOMPARE(cuda.at("bytes").at(same).get<std::int64_t>(), cpu.at("bytes").at(same).get<std::int64_t>());
    QVERIFY(cuda.at("bytes").at("workspace").get<std::int64_t>() != cpu.at("bytes").at("workspace").get<std::int64_t>());
    QVERIFY(std::get<0>(run("tpu")) != 0);
}

// `qlora estimate` on a folder holding only config.json: says so, checks against the named GPU,
// finds the largest micro-batch, and gives the loaded folder's numbers.
void TestEstimate::cliConfigOnly() {
    const QString qlora = QString::fromStdString(std::string(QLS_BINARY_DIR) + "/bin/qlora");
    QVERIFY2(QFileInfo::exists(qlora), "build the qlora target first");
    const auto full = ref_dir() / "models" / "qwen2-tiny";
    const qls::test::ScratchDir dir;
    const auto folder = config_only_copy(dir, full);
    auto run = [&](const QStringList& args) {
        QProcess p;
        p.start(qlora, args);
        [&] { QVERIFY(p.waitForFinished(120000)); }();
        return std::pair(p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()));
    };
    const QStringList common = {"--gpu", "rtx4090", "--fit", "micro-batch", "--device", "cpu", "--max-seq-len", "256"};
    const auto [code, text] = run(QStringList{"estimate", QString::fromStdString(folder.string())} + common);
    QCOMPARE(code, 0);
    QVERIFY2(text.contains("(config only: weights not downloaded)"), qPrintable(text));
    QVERIFY2(text.contains("against RTX 4090 24 GB: 23.00 GiB usable"), qPrintable(text));
    QVERIFY2(text.contains("bf16 compute"), qPrintable(text));
    QVERIFY2(text.contains("Largest micro-batch that fits: "), qPrintable(text));
    const auto [c1, fromConfig] =
        run(QStringList{"estimate", "--config", QString::fromStdString((folder / "config.json").string()), "--json"} + common);
    const auto [c2, fromWeights] = run(QStringList{"estimate", QString::fromStdString(full.string()), "--json"} + common);
    QCOMPARE(c1, 0);
    QCOMPARE(c2, 0);
    const auto a = nlohmann::json::parse(fromConfig.toStdString());
    const auto b = nlohmann::json::parse(fromWeights.toStdString());
    QVERIFY(a.at("config_only").get<bool>());
    QVERIFY(!b.at("config_only").get<bool>());
    QCOMPARE(a.at("bytes"), b.at("bytes"));
    QCOMPARE(a.at("fit"), b.at("fit"));
    QCOMPARE(a.at("gpu").at("usable_bytes").get<std::int64_t>(), std::int64_t(23) << 30);
    const auto [bad, badText] = run({"estimate", QString::fromStdString(folder.string()), "--gpu", "a100"});
    QCOMPARE(bad, 2);
}

QTEST_GUILESS_MAIN(TestEstimate)
#include "test_estimate.moc"
