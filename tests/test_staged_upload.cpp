// Loading through pinned staging (core/backend/staged_upload.h) on a backend whose copy stream
// lags like a GPU's (stream_check_backend.h): every byte arrives though the caller reuses its
// source at once and the slots are refilled while transfers are queued; a destination reused
// upload after upload (the quantization staging) is never overwritten under a compute op that
// still reads it; a whole base (quantized on load, pre-quantized, dense) loads to the same bytes
// as on the CPU backend, all of it through the slots; the CPU backend copies directly.
#include <QtTest>
#include <random>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/staged_upload.h"
#include "core/model/device_base_model.h"
#include "core/model/model_loader.h"
#include "core/util/resource_paths.h"
#include "tests/stream_check_backend.h"
#include "tests/test_support.h"

using namespace qls;

namespace {

std::vector<std::byte> random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::byte> v(n);
    for (auto& b : v) b = static_cast<std::byte>(rng() & 0xff);
    return v;
}

std::vector<std::byte> read_back(Backend& backend, const Tensor& t) {
    std::vector<std::byte> v(t.bytes());
    backend.copy_to_host(t, v);
    return v;
}

// Every dense tensor and every linear weight (dequantized to fp32) of a base, as bytes.
std::vector<std::vector<std::byte>> contents(Backend& backend, const DeviceBaseModel& base) {
    std::vector<std::vector<std::byte>> out;
    auto weight = [&](const LinearWeight& w) {
        Buffer b = backend.allocate(static_cast<std::size_t>(w.out * w.in) * 4, Usage::Workspace, "test");
        const Tensor t = b.view(0, DType::F32, {w.out, w.in});
        backend.dequantize_weight(w, t);
        out.push_back(read_back(backend, t));
    };
    out.push_back(read_back(backend, base.embed()));
    out.push_back(read_back(backend, base.final_norm()));
    weight(base.lm_head());
    for (const DeviceLayer& l : base.layers()) {
        out.push_back(read_back(backend, l.attn_norm));
        out.push_back(read_back(backend, l.mlp_norm));
        for (const LinearWeight* w : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) weight(*w);
    }
    return out;
}

}  // namespace

class TestStagedUpload : public QObject {
    Q_OBJECT
private slots:
    void bytesArriveThroughTheSlots();
    void reusedDestinationWaitsForCompute();
    void baseLoadsAsOnTheCpu_data();
    void baseLoadsAsOnTheCpu();
    void cpuCopiesDirectly();
};

// 10,007 bytes through 1,000-byte slots: 11 transfers, the last one short; the source is
// overwritten right after each call, and nothing has run on the lagging copy stream yet.
void TestStagedUpload::bytesArriveThroughTheSlots() {
    test::StreamCheckBackend backend;
    const std::vector<std::byte> a = random_bytes(10007, 1), b = random_bytes(2500, 2);
    Buffer da = backend.allocate(a.size(), Usage::BaseWeights, "a"),
           db = backend.allocate(b.size(), Usage::BaseWeights, "b");
    {
        StagedUpload upload(backend, 10007, 1000);
        std::vector<std::byte> source = a;
        upload.upload(da.whole(DType::U8), source);
        std::fill(source.begin(), source.end(), std::byte{0});
        source = b;
        upload.upload(db.whole(DType::U8), source);
        std::fill(source.begin(), source.end(), std::byte{0});
        QCOMPARE(upload.transfers(), std::int64_t(11 + 3));
        QVERIFY(backend.memory().snapshot().current_of(Usage::PagedHost) == 2000);
    }
    QCOMPARE(read_back(backend, da.whole(DType::U8)), a);
    QCOMPARE(read_back(backend, db.whole(DType::U8)), b);
    QVERIFY2(backend.hazards().empty(), backend.first_hazard().c_str());
    QCOMPARE(backend.memory().snapshot().current_of(Usage::PagedHost), std::int64_t(0));
}

// The quantization staging pattern: upload, a compute op reads it, upload the next weight into
// the same bytes, read again. Each read sees its own upload.
void TestStagedUpload::reusedDestinationWaitsForCompute() {
    test::StreamCheckBackend backend;
    Buffer staging = backend.allocate(4096, Usage::Workspace, "staging");
    Buffer sum = backend.allocate(4096, Usage::Workspace, "sum");
    const Tensor s = staging.whole(DType::F32), acc = sum.whole(DType::F32);
    backend.fill_zero(acc);
    StagedUpload upload(backend, 4096, 512);
    std::vector<float> expected(1024, 0.0f);
    for (int round = 1; round <= 3; ++round) {
        std::vector<float> values(1024);
        for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(round * 1000 + int(i));
        upload.upload(s, std::as_bytes(std::span(values)));
        backend.add_inplace(acc, s);  // a compute op reading the staging
        for (std::size_t i = 0; i < values.size(); ++i) expected[i] += values[i];
    }
    std::vector<float> got(1024);
    backend.copy_to_host(acc, std::as_writable_bytes(std::span(got)));
    QCOMPARE(got, expected);
    QVERIFY2(backend.hazards().empty(), backend.first_hazard().c_str());
}

void TestStagedUpload::baseLoadsAsOnTheCpu_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<bool>("quantize");
    QTest::newRow("nf4 on load") << QString::fromStdString(demo_model_dir().string()) << true;
    QTest::newRow("dense") << QString::fromStdString(demo_model_dir().string()) << false;
    QTest::newRow("sharded bf16 nf4")
        << QString::fromStdString((test::ref_dir() / "models" / "llama3-tiny-bf16-sharded").string()) << true;
    QTest::newRow("pre-quantized bnb")
        << QString::fromStdString((test::ref_dir() / "bnb" / "llama3-tiny-nf4-dq").string()) << true;
}

void TestStagedUpload::baseLoadsAsOnTheCpu() {
    QFETCH(QString, model);
    QFETCH(bool, quantize);
    const Model m = load_model(model.toStdString());
    BaseWeightsOptions o;
    if (!quantize) o.quant = std::nullopt;
    CpuBackend cpu;
    test::StreamCheckBackend lagging;
    const DeviceBaseModel on_cpu(cpu, m, o), staged(lagging, m, o);
    QCOMPARE(contents(lagging, staged), contents(cpu, on_cpu));
    QVERIFY2(lagging.hazards().empty(), lagging.first_hazard().c_str());
    const MemorySnapshot mem = lagging.memory().snapshot();
    QVERIFY(mem.peak_of(Usage::PagedHost) > 0);                   // it went through the slots
    QCOMPARE(mem.current_of(Usage::PagedHost), std::int64_t(0));  // which are gone after loading
    QCOMPARE(mem.current_of(Usage::BaseWeights), cpu.memory().snapshot().current_of(Usage::BaseWeights));
}

void TestStagedUpload::cpuCopiesDirectly() {
    CpuBackend cpu;
    const std::vector<std::byte> a = random_bytes(3000, 3);
    Buffer d = cpu.allocate(a.size(), Usage::BaseWeights, "a");
    StagedUpload upload(cpu, a.size(), 1000);
    upload.upload(d.whole(DType::U8), a);
    QCOMPARE(upload.transfers(), std::int64_t(0));
    QCOMPARE(cpu.memory().snapshot().peak_of(Usage::PagedHost), std::int64_t(0));
    QCOMPARE(read_back(cpu, d.whole(DType::U8)), a);
}

QTEST_GUILESS_MAIN(TestStagedUpload)
#include "test_staged_upload.moc"
