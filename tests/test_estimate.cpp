// The memory estimate against what the accountant measures on the CPU backend during a real
// forward/backward step, for several shapes and base formats.
#include <QtTest>

#include "core/backend/cpu/cpu_backend.h"
#include "core/model/llama_model.h"
#include "core/model/model_loader.h"
#include "core/train/adamw_optimizer.h"
#include "core/train/memory_estimate.h"
#include "test_support.h"

using namespace qls;
using qls::test::ref_dir;

class TestEstimate : public QObject {
    Q_OBJECT
private slots:
    void planPhasesShareBytes();
    void matchesMeasuredPeak_data();
    void matchesMeasuredPeak();
    void verdict();
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
    const int f32 = static_cast<int>(DType::F32), bf16 = static_cast<int>(DType::BF16);
    const int f16 = static_cast<int>(DType::F16);
    QTest::newRow("llama3 nf4 1x64 ckpt") << "models/llama3-tiny" << 0 << 1 << 64 << true << 8 << 0 << f32;
    QTest::newRow("llama3 nf4 4x128 full paged") << "models/llama3-tiny" << 0 << 4 << 128 << false << 16 << 64 << f32;
    QTest::newRow("qwen2 fp4 2x96 ckpt") << "models/qwen2-tiny" << 1 << 2 << 96 << true << 4 << 0 << f32;
    QTest::newRow("bf16 sharded dense 3x50") << "models/llama3-tiny-bf16-sharded" << -1 << 3 << 50 << true << 8 << 0 << f32;
    QTest::newRow("bnb nf4-dq 2x40 full paged") << "bnb/llama3-tiny-nf4-dq" << -1 << 2 << 40 << false << 8 << 32 << f32;
    QTest::newRow("llama3 nf4 1x64 ckpt bf16") << "models/llama3-tiny" << 0 << 1 << 64 << true << 8 << 0 << bf16;
    QTest::newRow("llama3 nf4 4x128 full paged bf16") << "models/llama3-tiny" << 0 << 4 << 128 << false << 16 << 64 << bf16;
    QTest::newRow("qwen2 fp4 2x96 ckpt fp16") << "models/qwen2-tiny" << 1 << 2 << 96 << true << 4 << 0 << f16;
    QTest::newRow("bf16 sharded dense 3x50 fp16") << "models/llama3-tiny-bf16-sharded" << -1 << 3 << 50 << true << 8 << 0 << f16;
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
    o.paging.page_bytes = 16 << 10;
    o.paging.device_budget_bytes = std::int64_t(budget_kib) << 10;
    CpuBackend backend;
    const MemoryEstimate e = estimate_memory(m, o, backend);
    DeviceBaseModel base(backend, m, o.base);
    LoraParameters lora(backend, m.config, o.lora);
    LlamaModel llama(backend, base, &lora, {batch, seq, checkpointing, 0, o.base.compute});
    Batch b;
    b.batch = batch;
    b.seq_len = seq;
    for (int i = 0; i < batch * seq; ++i) {
        b.tokens.push_back((i * 7 + 3) % static_cast<int>(m.config.vocab_size));
        // Every row trained: the worst case the plan is made for (the LM head and, with 16-bit
        // compute, the CPU's fp32 copies of its logits grow with the trained rows).
        b.targets.push_back((i * 11 + 1) % static_cast<int>(m.config.vocab_size));
        b.positions.push_back(i % seq);
        b.segments.push_back(0);
    }
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

QTEST_GUILESS_MAIN(TestEstimate)
#include "test_estimate.moc"
