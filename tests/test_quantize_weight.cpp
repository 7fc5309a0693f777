// Backend::quantize_weight on the CPU backend and DeviceBaseModel quantizing its base through it:
// every 4-bit array byte for byte equal to core quantize_4bit (formats.md §1.2, §2) called
// directly on the same weight, and, for llama3-tiny, to the checkpoints bitsandbytes saved
// (ref/bnb). Odd sizes (n odd, n not a multiple of the blocksize), F32/BF16/F16 sources, NF4 and
// FP4, with and without double quantization. The staging buffer is gone when loading ends.
#include <QtTest>
#include <algorithm>
#include <cstring>
#include <regex>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/quant4_arrays.h"
#include "core/io/safetensors_reader.h"
#include "core/model/device_base_model.h"
#include "core/model/llama_tensors.h"
#include "core/model/model_layout.h"
#include "core/model/model_loader.h"
#include "core/model/random_model.h"
#include "core/quant/quant_storage.h"
#include "core/quant/quant_tables.h"
#include "core/quant/quantize_4bit.h"
#include "core/train/memory_estimate.h"
#include "tests/model_test_support.h"
#include "tests/quant4_test_support.h"
#include "tests/test_support.h"

using namespace qls;

namespace {

template <typename T>
std::vector<T> copy_as(const TensorView& t) {
    std::vector<T> out(t.data.size() / sizeof(T));
    std::memcpy(out.data(), t.data.data(), out.size() * sizeof(T));
    return out;
}

constexpr const char* kLinears[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                    "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                    "mlp.down_proj"};

const LinearWeight& linear_of(const DeviceLayer& l, int i) {
    const LinearWeight* all[] = {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down};
    return *all[i];
}

// C 35, I 51 (gate, up, down have an odd number of weights), 2 query heads and 1 KV head of 6.
LlamaConfig odd_config() {
    LlamaConfig c = test::tiny_config(false, false, 2);
    c.hidden_size = 35;
    c.intermediate_size = 51;
    c.num_heads = 2;
    c.num_kv_heads = 1;
    c.head_dim = 6;
    return c;
}

}  // namespace

class TestQuantizeWeight : public QObject {
    Q_OBJECT
private slots:
    void opMatchesHostQuantizer_data();
    void opMatchesHostQuantizer();
    void opMatchesBnbFixtures();
    void baseModelMatchesHostQuantizer_data();
    void baseModelMatchesHostQuantizer();
    void baseModelMatchesBitsandbytes_data();
    void baseModelMatchesBitsandbytes();
    void layoutMatchesStorage();
    void stagingBelowTrainingWorkspace();
};

void TestQuantizeWeight::opMatchesHostQuantizer_data() {
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("cols");
    QTest::addColumn<int>("dtype");
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("blocksize");
    QTest::addColumn<bool>("dq");
    const std::vector<Shape> shapes = {{3, 37}, {17, 129}, {1, 4097}, {64, 64}, {1, 1}};
    const int blocksizes[] = {64, 32, 256, 4096};
    int k = 0;
    for (const Shape& s : shapes)
        for (DType dt : {DType::F32, DType::BF16, DType::F16})
            for (QuantType t : {QuantType::NF4, QuantType::FP4})
                for (bool dq : {false, true}) {
                    const int bs = blocksizes[k++ % 4];
                    QTest::newRow(
                        str_cat(s, " ", dtype_name(dt), " ", quant_type_name(t), " bs", bs, dq ? " dq" : "")
                            .c_str())
                        << int(s[0]) << int(s[1]) << int(dt) << int(t) << bs << dq;
                }
}

void TestQuantizeWeight::opMatchesHostQuantizer() {
    QFETCH(int, rows);
    QFETCH(int, cols);
    QFETCH(int, dtype);
    QFETCH(int, type);
    QFETCH(int, blocksize);
    QFETCH(bool, dq);
    const DType dt = static_cast<DType>(dtype);
    const Shape shape{rows, cols};
    const std::vector<std::byte> bytes = test::random_weight(shape, dt, 17 + numel(shape));
    const TensorView view{dt, shape, bytes};
    CpuBackend be;
    const Quantized4bit got = test::quantize_on(be, view, static_cast<QuantType>(type), blocksize, dq);
    const Quantized4bit want = quantize_4bit(view, static_cast<QuantType>(type), blocksize, dq);
    const std::string diff = test::compare_quant4(got, want);
    QVERIFY2(diff.empty(), diff.c_str());
}

// bitsandbytes' own quantize_4bit outputs (ref/bnb/quantize_cases.safetensors, the fixtures
// test_quant checks core quantize_4bit against): fp32, bf16 and fp16 inputs of odd lengths,
// NF4/FP4, several blocksizes, with and without double quant, offsets included.
void TestQuantizeWeight::opMatchesBnbFixtures() {
    const SafetensorsFile f(test::ref_dir() / "bnb" / "quantize_cases.safetensors");
    const std::regex key(R"(^(\w+\.\w+)\.(nf4|fp4)\.bs(\d+)\.(sq|dq)\.packed$)");
    CpuBackend be;
    int cases = 0;
    for (const std::string& name : f.names()) {
        std::smatch m;
        if (!std::regex_match(name, m, key)) continue;
        const std::string prefix = name.substr(0, name.size() - std::string("packed").size());
        const TensorView& in = f.tensor(m[1].str() + ".input");
        Quantized4bit want;
        want.type = m[2] == "nf4" ? QuantType::NF4 : QuantType::FP4;
        want.blocksize = std::stoi(m[3]);
        want.quant_map = quant_values(want.type);
        want.packed = copy_as<std::uint8_t>(f.tensor(name));
        const bool dq = m[4] == "dq";
        if (dq) {
            NestedAbsmax n;
            n.codes = copy_as<std::uint8_t>(f.tensor(prefix + "absmax_q"));
            n.absmax = copy_as<float>(f.tensor(prefix + "nested_absmax"));
            n.code_map = copy_as<float>(f.tensor(prefix + "nested_code"));
            n.offset = copy_as<float>(f.tensor(prefix + "offset")).at(0);
            want.nested = std::move(n);
        } else {
            want.absmax = copy_as<float>(f.tensor(prefix + "absmax"));
        }
        const Quantized4bit got = test::quantize_on(be, in, want.type, want.blocksize, dq);
        const std::string diff = test::compare_quant4(got, want);
        QVERIFY2(diff.empty(), (name + ": " + diff).c_str());
        ++cases;
    }
    QCOMPARE(cases, 84);
}

void TestQuantizeWeight::baseModelMatchesHostQuantizer_data() {
    QTest::addColumn<int>("dtype");
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("blocksize");
    QTest::addColumn<bool>("dq");
    for (DType dt : {DType::F32, DType::BF16})
        for (QuantType t : {QuantType::NF4, QuantType::FP4})
            for (bool dq : {false, true})
                for (int bs : {64, 4096})
                    QTest::newRow(
                        str_cat(dtype_name(dt), " ", quant_type_name(t), " bs", bs, dq ? " dq" : "").c_str())
                        << int(dt) << int(t) << bs << dq;
}

void TestQuantizeWeight::baseModelMatchesHostQuantizer() {
    QFETCH(int, dtype);
    QFETCH(int, type);
    QFETCH(int, blocksize);
    QFETCH(bool, dq);
    const DType dt = static_cast<DType>(dtype);
    const Model m = random_model(odd_config(), dt, 5);
    BaseWeightsOptions o;
    o.quant = static_cast<QuantType>(type);
    o.blocksize = blocksize;
    o.double_quant = dq;
    CpuBackend be;
    const DeviceBaseModel base(be, m, o);
    std::size_t largest = 0;
    std::int64_t workspace = 0;
    for (std::int64_t l = 0; l < m.config.num_layers; ++l)
        for (int i = 0; i < 7; ++i) {
            const std::string name = str_cat("model.layers.", l, ".", kLinears[i], ".weight");
            const Weight& w = m.weights.get(name);
            const LinearWeight& lw = linear_of(base.layers()[std::size_t(l)], i);
            QVERIFY2(lw.quant.has_value(), name.c_str());
            const Quantized4bit got = test::read_quant4(be, *lw.quant, w.shape, dt);
            const std::string diff =
                test::compare_quant4(got, quantize_4bit(w.view, *o.quant, blocksize, dq));
            QVERIFY2(diff.empty(), (name + ": " + diff).c_str());
            largest = std::max(largest, w.view.data.size());
            workspace = std::max(workspace, quantize_weight_workspace_bytes(numel(w.shape), blocksize, dq));
        }
    // One staging buffer, for the largest weight (at a 256-byte boundary) and its workspace, freed
    // when loading ends; nothing on the backend held more while loading (the CPU backend's own
    // scratch is not touched by a load).
    const MemorySnapshot s = be.memory().snapshot();
    QCOMPARE(s.current_of(Usage::Workspace), std::int64_t(0));
    QCOMPARE(s.peak_of(Usage::Workspace), std::int64_t((largest + 255) / 256 * 256) + workspace);
}

void TestQuantizeWeight::baseModelMatchesBitsandbytes_data() {
    QTest::addColumn<QString>("ref");
    QTest::addColumn<bool>("nf4");
    QTest::newRow("fp4") << "llama3-tiny-fp4" << false;
    QTest::newRow("nf4-dq") << "llama3-tiny-nf4-dq" << true;
}

// bitsandbytes quantized the fp32 llama3-tiny into these checkpoints on a GPU (transformers'
// BitsAndBytesConfig: blocksize 64; NF4 with double quant, FP4 without).
void TestQuantizeWeight::baseModelMatchesBitsandbytes() {
    QFETCH(QString, ref);
    QFETCH(bool, nf4);
    const Model dense = load_model(test::ref_dir() / "models" / "llama3-tiny");
    const Model bnb = load_model(test::ref_dir() / "bnb" / ref.toStdString());
    BaseWeightsOptions o;
    o.quant = nf4 ? QuantType::NF4 : QuantType::FP4;
    o.double_quant = nf4;
    CpuBackend be;
    const DeviceBaseModel base(be, dense, o);
    int compared = 0;
    for (std::int64_t l = 0; l < dense.config.num_layers; ++l)
        for (int i = 0; i < 7; ++i) {
            const std::string name = str_cat("model.layers.", l, ".", kLinears[i], ".weight");
            const Weight& theirs = bnb.weights.get(name);
            QVERIFY2(theirs.is_quantized(), name.c_str());
            const Quantized4bit got = test::read_quant4(
                be, *linear_of(base.layers()[std::size_t(l)], i).quant, theirs.shape, DType::F32);
            const std::string diff = test::compare_quant4(got, *theirs.quantized);
            QVERIFY2(diff.empty(), (name + ": " + diff).c_str());
            ++compared;
        }
    QCOMPARE(compared, 21);
}

// The arrays allocate_quant4 makes are the bytes the memory estimate counts per tensor.
void TestQuantizeWeight::layoutMatchesStorage() {
    for (const std::int64_t n :
         {std::int64_t(1), std::int64_t(4097), std::int64_t(64 * 256 + 1), std::int64_t(1785)})
        for (const bool dq : {false, true})
            for (const int bs : {32, 64, 4096}) {
                CpuBackend be;
                std::vector<Buffer> storage;
                allocate_quant4(be, storage, n, QuantType::NF4, bs, dq, Usage::BaseWeights, "w");
                QCOMPARE(be.memory().snapshot().current_of(Usage::BaseWeights),
                         std::int64_t(quantized_tensor_bytes(n, bs, dq)));
                QCOMPARE(storage.size(), std::size_t(dq ? 5 : 3));
            }
}

// DeviceBaseModel frees its staging buffer when loading ends and the estimate never counts it,
// which holds while staging (the largest linear weight in its stored dtype plus its absmax
// workspace) stays below the Workspace a quantized base then trains with: checked at the worst
// case, an fp32 checkpoint trained in bf16 on one token, where that workspace is smallest.
void TestQuantizeWeight::stagingBelowTrainingWorkspace() {
    for (const char* shape : {"tiny", "smollm2-135m", "llama-1b", "llama-7b"}) {
        const LlamaConfig c = benchmark_shape(shape);
        std::int64_t largest = 0;
        for (const ExpectedTensor& t : llama_expected_tensors(c))
            if (t.linear) largest = std::max(largest, numel(t.shape));
        const std::int64_t staging =
            (largest * 4 + 255) / 256 * 256 + quantize_weight_workspace_bytes(largest, 64, true);
        EstimateOptions o;
        o.base.compute = DType::BF16;
        o.micro_batch = 1;
        o.seq_len = 1;
        const std::int64_t training = estimate_memory(config_layout(c), o, CpuBackend()).of(Usage::Workspace);
        QVERIFY2(staging < training,
                 qPrintable(
                     QString("%1: staging %2, training workspace %3").arg(shape).arg(staging).arg(training)));
    }
}

QTEST_GUILESS_MAIN(TestQuantizeWeight)
#include "test_quantize_weight.moc"
