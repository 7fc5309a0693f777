// The longest sequence that fits (core/train/longest_seq.h), with and without offloaded
// checkpoints, on small random models: each answer is the fit search's edge by the very estimate
// the CLI and the studio show beside it, offload never shortens it, and without gradient
// checkpointing there is nothing to offload.
#include <QtTest>

#include "core/backend/cpu/cpu_backend.h"
#include "core/model/model_layout.h"
#include "core/train/longest_seq.h"
#include "core/train/memory_estimate.h"
#include "model_test_support.h"

using namespace qls;

namespace {

EstimateOptions options(std::int64_t micro_batch, DType compute) {
    EstimateOptions o;
    o.base = {QuantType::NF4, true, 64, compute};
    o.lora.rank = 4;
    o.micro_batch = micro_batch;
    return o;
}

MemoryEstimate at(const ModelLayout& layout, EstimateOptions o, std::int64_t seq, bool offload,
                  const Backend& backend) {
    o.seq_len = seq;
    o.offload_checkpoints = offload;
    return estimate_memory(layout, o, backend);
}

// `r` is the edge of the estimate: it fits at r.value and, below the context length, not one
// token more; the estimate it carries is the one at r.value.
void checkEdge(const ModelLayout& layout, const EstimateOptions& o, const FitResult& r, bool offload,
               const Backend& backend) {
    QCOMPARE(r.dimension, FitDimension::SeqLen);
    QCOMPARE(r.limit, layout.config.max_position_embeddings);
    QVERIFY(r.value > 0);
    const MemoryEstimate here = at(layout, o, r.value, offload, backend);
    QVERIFY(here.fits);
    QCOMPARE(r.estimate.device_total, here.device_total);
    QCOMPARE(r.estimate.offload_host, here.offload_host);
    if (!r.at_limit()) QVERIFY(!at(layout, o, r.value + 1, offload, backend).fits);
}

}  // namespace

class TestLongestSeq : public QObject {
    Q_OBJECT
private slots:
    void toTheToken_data();
    void toTheToken();
    void withoutCheckpointing();
    void ends();
};

void TestLongestSeq::toTheToken_data() {
    QTest::addColumn<int>("layers");
    QTest::addColumn<int>("microBatch");
    QTest::addColumn<int>("compute");
    QTest::addColumn<double>("between");  // where the device size lies between 8 tokens' and the context's needs
    QTest::newRow("6 layers fp32 mid") << 6 << 2 << int(DType::F32) << 0.5;
    QTest::newRow("6 layers bf16 tight") << 6 << 1 << int(DType::BF16) << 0.1;
    QTest::newRow("8 layers fp32 roomy") << 8 << 3 << int(DType::F32) << 0.9;
    QTest::newRow("2 layers fp32 (nothing moves)") << 2 << 2 << int(DType::F32) << 0.5;
    QTest::newRow("6 layers past the context") << 6 << 2 << int(DType::F32) << 1.5;
}

void TestLongestSeq::toTheToken() {
    QFETCH(int, layers);
    QFETCH(int, microBatch);
    QFETCH(int, compute);
    QFETCH(double, between);
    const ModelLayout layout = model_layout(test::tiny_model(test::tiny_config(false, false, layers), 5));
    const CpuBackend backend;
    EstimateOptions o = options(microBatch, DType(compute));
    const std::int64_t context = layout.config.max_position_embeddings;
    const double low = double(at(layout, o, 8, false, backend).device_total);
    const double high = double(at(layout, o, context, false, backend).device_total);
    o.device_bytes = std::int64_t(low + between * (high - low));
    o.offload_checkpoints = true;  // ignored: both answers are always given

    const LongestSeq r = longest_seq(layout, o, backend);
    checkEdge(layout, o, r.plain, false, backend);
    QCOMPARE(r.plain.estimate.offload_host, std::int64_t(0));
    QVERIFY(r.offloaded.has_value());
    checkEdge(layout, o, *r.offloaded, true, backend);
    QVERIFY2(r.offloaded->value >= r.plain.value,
             qPrintable(QString("%1 < %2").arg(r.offloaded->value).arg(r.plain.value)));
    QCOMPARE(r.plain.at_limit(), between >= 1.0);
    // Layers past the device's ring of slots keep their inputs on the host, so where anything
    // moves (and the context is not reached) offload makes room for more tokens.
    if (layers > LlamaModel::kOffloadSlots && !r.plain.at_limit()) {
        QVERIFY(r.offloaded->value > r.plain.value);
        QVERIFY(r.offloaded->estimate.offload_host > 0);
    }
}

void TestLongestSeq::withoutCheckpointing() {
    const ModelLayout layout = model_layout(test::tiny_model(test::tiny_config(false, false, 6), 9));
    const CpuBackend backend;
    EstimateOptions o = options(2, DType::F32);
    o.checkpointing = false;
    o.device_bytes = at(layout, o, 24, false, backend).device_total;
    const LongestSeq r = longest_seq(layout, o, backend);
    QVERIFY(!r.offloaded.has_value());
    QCOMPARE(r.plain.value, std::int64_t(24));
    checkEdge(layout, o, r.plain, false, backend);
}

// Nothing fits: both answers are 0 with the estimate at 1 token; no device size: refused.
void TestLongestSeq::ends() {
    const ModelLayout layout = model_layout(test::tiny_model(test::tiny_config(false, false, 6), 3));
    const CpuBackend backend;
    EstimateOptions o = options(1, DType::F32);
    o.device_bytes = 1024;
    const LongestSeq none = longest_seq(layout, o, backend);
    QCOMPARE(none.plain.value, std::int64_t(0));
    QVERIFY(!none.plain.estimate.fits);
    QCOMPARE(none.plain.estimate.device_total, at(layout, o, 1, false, backend).device_total);
    QVERIFY(none.offloaded.has_value());
    QCOMPARE(none.offloaded->value, std::int64_t(0));
    o.device_bytes = 0;
    QVERIFY_THROWS_EXCEPTION(ConfigError, longest_seq(layout, o, backend));
}

QTEST_GUILESS_MAIN(TestLongestSeq)
#include "test_longest_seq.moc"
