// Offloaded checkpoints and MLP chunks (llama_model.h). With the layer inputs waiting for
// backward in host memory, a step gives the very bits it gives without (logits, loss, every LoRA
// gradient, in fp32 and bf16), moves what the schedule says when it says, keeps its device memory
// to the ring of slots, issues no host wait, and stays ordered under a copy stream that lags.
// With the MLP in chunks of rows, logits and loss are the same bits and the LoRA gradients differ
// only by the order their sums over rows are taken in, with less device memory.
#include <QtTest>

#include "core/backend/cpu/cpu_backend.h"
#include "core/model/llama_model.h"
#include "model_test_support.h"
#include "stream_check_backend.h"

using namespace qls;
using qls::test::download;

namespace {

constexpr std::int64_t kLayers = 6;
constexpr std::int64_t kBatch = 2, kSeq = 12;

// A tiny random Llama with LoRA on every module and B non-zero (B = 0 would leave the A
// gradients' paths untested), computing in `compute`.
struct Tiny {
    LlamaConfig config = test::tiny_config(false, false, kLayers);
    Model model = test::tiny_model(config, 11);
    DeviceBaseModel base;
    LoraParameters lora;
    Tiny(Backend& backend, DType compute)
        : base(backend, model, {QuantType::NF4, true, 64, compute}), lora(backend, config, lora_config()) {
        for (const auto& p : lora.params())
            if (p.name.ends_with("lora_B")) {
                std::vector<float> v(static_cast<std::size_t>(p.value.numel()));
                for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.05f * std::sin(float(i) + 1.0f);
                backend.copy_from_host(p.value, std::as_bytes(std::span(v)));
            }
    }
    static LoraConfig lora_config() {
        LoraConfig c;
        c.rank = 2;
        c.dropout = 0.1;  // the masks of forward and recompute must agree with offload too
        return c;
    }
};

struct StepResult {
    std::vector<std::string> names;  // of the LoRA parameters, as grads
    std::vector<float> logits;
    LossSum loss;
    std::vector<std::vector<float>> grads;
    std::vector<CheckpointMove> moves;
    std::int64_t syncs_in_steps = 0;  // host synchronizations inside the two forward_backward calls
    MemorySnapshot memory;
};

// Two micro-batches accumulated (the second reuses every slot and host home), then logits.
StepResult run(Backend& backend, DType compute, bool offload, std::int64_t mlp_chunk = 0) {
    Tiny t(backend, compute);
    LlamaModel model(backend, t.base, &t.lora, {kBatch, kSeq, true, 0, compute, offload, mlp_chunk});
    const Batch a = test::pattern_batch(kBatch, kSeq, 37), b = test::pattern_batch(1, kSeq - 3, 37);
    StepResult r;
    const std::int64_t before = backend.host_syncs();
    model.forward_backward(a, 0.01f, 42);
    model.forward_backward(b, 0.01f, 43);
    r.syncs_in_steps = backend.host_syncs() - before;
    r.loss = model.read_loss();
    for (const auto& p : t.lora.params()) {
        r.names.push_back(p.name);
        r.grads.push_back(download(backend, p.grad));
    }
    r.moves = model.drain_checkpoint_moves();
    r.logits = model.logits(a);
    r.memory = backend.memory().snapshot();
    return r;
}

}  // namespace

class TestOffload : public QObject {
    Q_OBJECT
private slots:
    void identicalWithAndWithout_data();
    void identicalWithAndWithout();
    void movesFollowTheSchedule();
    void orderedUnderALaggingCopyStream_data();
    void orderedUnderALaggingCopyStream();
    void needsCheckpointing();
    void mlpChunksMatchWhole_data();
    void mlpChunksMatchWhole();
};

void TestOffload::identicalWithAndWithout_data() {
    QTest::addColumn<int>("compute_id");
    QTest::newRow("fp32") << static_cast<int>(DType::F32);
    QTest::newRow("bf16") << static_cast<int>(DType::BF16);
}

// The same ops on the same bytes, only stored elsewhere in between: equal to the bit.
void TestOffload::identicalWithAndWithout() {
    QFETCH(int, compute_id);
    const auto compute = static_cast<DType>(compute_id);
    CpuBackend plain_backend, offload_backend;
    const StepResult plain = run(plain_backend, compute, false);
    const StepResult off = run(offload_backend, compute, true);
    QVERIFY(plain.moves.empty());
    QVERIFY(!off.moves.empty());
    QCOMPARE(off.loss.loss, plain.loss.loss);
    QCOMPARE(off.loss.tokens, plain.loss.tokens);
    QCOMPARE(off.grads, plain.grads);
    QCOMPARE(off.logits, plain.logits);
    // No host wait inside a step: the moves are ordered by events alone.
    QCOMPARE(off.syncs_in_steps, std::int64_t(0));
    QCOMPARE(plain.syncs_in_steps, std::int64_t(0));
    // Device memory for layer inputs: the ring of 3 slots instead of L + 1 inputs; the others
    // wait on the host.
    const auto input_bytes = static_cast<std::int64_t>(kBatch * kSeq * 16 * dtype_size(compute));
    const std::int64_t homes = kLayers + 1 - LlamaModel::kOffloadSlots;
    QCOMPARE(plain.memory.peak_of(Usage::Activations) - off.memory.peak_of(Usage::Activations),
             homes * input_bytes);
    QCOMPARE(off.memory.peak_of(Usage::PagedHost), homes * input_bytes);
    QCOMPARE(plain.memory.peak_of(Usage::PagedHost), std::int64_t(0));
    QCOMPARE(off.memory.device_peak, plain.memory.device_peak - homes * input_bytes);
}

// Forward sends inputs 0..L-3 to the host as each layer finishes with it; backward fetches
// each back while the layer above it runs backward, in reverse; the last inputs never move.
void TestOffload::movesFollowTheSchedule() {
    CpuBackend backend;
    const StepResult r = run(backend, DType::F32, true);
    std::vector<std::pair<bool, std::int64_t>> expected;
    const std::int64_t last = kLayers - LlamaModel::kOffloadSlots;  // the last input that moves
    for (int micro = 0; micro < 2; ++micro) {
        for (std::int64_t l = 0; l <= last; ++l) expected.emplace_back(true, l);
        for (std::int64_t l = last; l >= 0; --l) expected.emplace_back(false, l);
    }
    QCOMPARE(r.moves.size(), expected.size());
    for (std::size_t i = 0; i < r.moves.size(); ++i) {
        QCOMPARE(r.moves[i].to_host, expected[i].first);
        QCOMPARE(r.moves[i].layer, expected[i].second);
        // Each move carries its micro-batch's rows only: 16 hidden fp32 values a row.
        const std::int64_t rows = i < r.moves.size() / 2 ? kBatch * kSeq : kSeq - 3;
        QCOMPARE(r.moves[i].bytes, rows * 16 * 4);
        if (i > 0) QVERIFY(r.moves[i].at >= r.moves[i - 1].at);
    }
}

void TestOffload::orderedUnderALaggingCopyStream_data() { identicalWithAndWithout_data(); }

// The copy stream holds each copy back until the compute stream waits for it: a missing
// wait shows as a hazard (and as stale inputs, so different gradients).
void TestOffload::orderedUnderALaggingCopyStream() {
    QFETCH(int, compute_id);
    const auto compute = static_cast<DType>(compute_id);
    CpuBackend cpu;
    const StepResult reference = run(cpu, compute, false);
    test::StreamCheckBackend lagging;
    const StepResult off = run(lagging, compute, true);
    QVERIFY2(lagging.hazards().empty(), lagging.first_hazard().c_str());
    QVERIFY(!off.moves.empty());
    QCOMPARE(off.grads, reference.grads);
    QCOMPARE(off.loss.loss, reference.loss.loss);
    QCOMPARE(off.logits, reference.logits);
    QCOMPARE(off.syncs_in_steps, std::int64_t(0));
}

void TestOffload::needsCheckpointing() {
    CpuBackend backend;
    Tiny t(backend, DType::F32);
    QVERIFY_THROWS_EXCEPTION(ConfigError, LlamaModel(backend, t.base, &t.lora, {1, 8, false, 0, DType::F32, true}));
    // Without checkpointing every layer keeps its whole MLP intermediate: no chunks either.
    QVERIFY_THROWS_EXCEPTION(ConfigError,
                             LlamaModel(backend, t.base, &t.lora, {1, 8, false, 0, DType::F32, false, 4}));
}

void TestOffload::mlpChunksMatchWhole_data() {
    QTest::addColumn<int>("compute_id");
    QTest::addColumn<bool>("offload");
    for (DType d : {DType::F32, DType::BF16})
        for (bool offload : {false, true})
            QTest::newRow(qPrintable(QString("%1%2").arg(dtype_name(d).data(), offload ? " offload" : "")))
                << static_cast<int>(d) << offload;
}

// Chunks of 5 rows (24 and 9 rows a micro-batch: a short last chunk each), LoRA dropout on.
// Every op but a LoRA gradient's sum over rows works row by row, so logits and loss are the same
// bits (the dropout masks index the whole activation). The gate, up and down adapters' gradients
// sum the same N products grouped by chunk: each differs from the whole sum by at most
// 2·γ_N·Σ|products| (γ_N = N·2⁻²⁴, N = 24 rows). Σ|products| is not observable from here, so
// the bound takes it as N times the tensor's largest |gradient|: the test's rows are random and
// uncorrelated, whose sums cancel by about √N, well inside N. In bf16 the LoRA gradients are
// fp32 sums too (LoRA runs in fp32), so the same bound holds.
void TestOffload::mlpChunksMatchWhole() {
    QFETCH(int, compute_id);
    QFETCH(bool, offload);
    const auto compute = static_cast<DType>(compute_id);
    CpuBackend whole_backend, chunk_backend;
    const StepResult whole = run(whole_backend, compute, false);
    const StepResult chunked = run(chunk_backend, compute, offload, 5);
    QCOMPARE(chunked.loss.loss, whole.loss.loss);
    QCOMPARE(chunked.loss.tokens, whole.loss.tokens);
    QCOMPARE(chunked.logits, whole.logits);
    QCOMPARE(chunked.names, whole.names);
    const double n = kBatch * kSeq, gamma = n * 0x1p-24;
    int mlp_tensors = 0;
    for (std::size_t i = 0; i < whole.grads.size(); ++i) {
        const std::string& name = whole.names[i];
        const bool mlp = name.find("gate_proj") != std::string::npos || name.find("up_proj") != std::string::npos ||
                         name.find("down_proj") != std::string::npos;
        if (!mlp) {
            QVERIFY2(chunked.grads[i] == whole.grads[i], name.c_str());
            continue;
        }
        ++mlp_tensors;
        double largest = 0;
        for (float g : whole.grads[i]) largest = std::max(largest, double(std::fabs(g)));
        QVERIFY2(largest > 0, name.c_str());
        const double tol = 2.0 * gamma * n * largest;
        for (std::size_t j = 0; j < whole.grads[i].size(); ++j) {
            const double err = std::fabs(double(chunked.grads[i][j]) - double(whole.grads[i][j]));
            QVERIFY2(err <= tol, qPrintable(QString("%1[%2]: %3 vs %4").arg(name.c_str()).arg(j)
                                                .arg(chunked.grads[i][j]).arg(whole.grads[i][j])));
        }
    }
    QCOMPARE(mlp_tensors, int(kLayers * 3 * 2));  // A and B of gate, up and down in every layer
    // Less device memory: the chunk's 5 rows of the MLP intermediates instead of 24.
    QVERIFY(chunked.memory.device_peak < whole.memory.device_peak);
}

QTEST_GUILESS_MAIN(TestOffload)
#include "test_offload.moc"
