// The 4-bit CUDA kernels (kernels/quantize_4bit.cu, kernels/dequantize_4bit.cu) against the CPU
// reference (core/quant) and the bitsandbytes fixtures, bit for bit. Every output is written
// twice over different poisons with guard bytes (kernels/bench/quant_check.h). Then the same
// kernels as the CudaBackend's quantize_weight and DeviceBaseModel quantizing on load on the GPU
// (its bytes through pinned staging), against the CPU backend; and a base on one CUDA backend read
// by another (the Playground beside a training run). Skips cleanly without a GPU.
//
// The CPU reference scales by a reciprocal taken as a parameter; here it is handed the GPU's
// rcp.approx.ftz.f32 of each absmax, which bnb's kernels use and no document specifies. The
// double-quant offset is a mean whose rounding depends on the summation order: GPU and CPU both
// follow torch's (core/quant/torch_cuda_mean.h), so offsets compare exactly, with bnb's too.
#include <QtTest>
#include <memory>

#include "core/backend/cpu/cpu_backend.h"
#include "core/model/device_base_model.h"
#include "core/model/llama_generator_generate.h"
#include "core/model/model_loader.h"
#include "core/model/shared_base.h"
#include "core/tokenizer/tokenizer.h"
#include "kernels/bench/bnb_fixture_cases.h"
#include "kernels/bench/quant_check.h"
#include "kernels/cuda_backend.h"
#include "kernels/device_info.h"
#include "tests/generation_test_support.h"
#include "tests/quant4_test_support.h"
#include "tests/test_support.h"

using namespace qls;
using namespace qls::cuda::check;

Q_DECLARE_METATYPE(qls::cuda::check::RandomCase)
Q_DECLARE_METATYPE(qls::cuda::check::FixtureCase)

namespace {

void verify_none(const std::vector<std::string>& failures) {
    std::string all;
    for (const std::string& f : failures) all += "\n  " + f;
    QVERIFY2(failures.empty(), all.c_str());
}

std::filesystem::path bnb_dir() {
    return qls::test::ref_dir() / "bnb";
}

constexpr const char* kLinears[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

const LinearWeight& linear_of(const DeviceLayer& l, int i) {
    const LinearWeight* all[] = {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down};
    return *all[i];
}

}  // namespace

class TestCudaQuant : public QObject {
    Q_OBJECT
    std::unique_ptr<qls::cuda::CudaBackend> m_gpu;  // one for the op's rows (cuBLAS set up once)

private slots:
    void initTestCase() {
        if (!qls::cuda::device_available()) QSKIP("no CUDA device");
        m_gpu = std::make_unique<qls::cuda::CudaBackend>(0);
    }

    void matchesCpuReference_data() {
        QTest::addColumn<RandomCase>("c");
        // Odd sizes, sizes one short of and one past a block, a single element, and a tile of
        // several thousand blocks.
        const std::vector<Shape> shapes = {{257, 333}, {1},      {7},         {3, 4097},
                                           {4095},     {64, 64}, {1000, 129}, {33}};
        const QuantType types[] = {QuantType::NF4, QuantType::FP4};
        const DType dtypes[] = {DType::F32, DType::BF16, DType::F16};
        const Dist dists[] = {Dist::Normal, Dist::StudentT, Dist::ZeroBlocks, Dist::Ties};
        std::uint64_t seed = 1;
        for (const Dist dist : dists)
            for (const DType dtype : dtypes)
                for (const QuantType type : types)
                    for (int bs = 32; bs <= 4096; bs *= 2)
                        for (const bool nested : {false, true}) {
                            RandomCase c{dist, shapes[seed % shapes.size()], dtype, type, bs, nested, seed};
                            ++seed;
                            QTest::newRow(c.name().c_str()) << c;
                        }
    }

    void matchesCpuReference() {
        QFETCH(RandomCase, c);
        verify_none(check_against_cpu(c));
    }

    void matchesBnbFixtures_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<FixtureCase>("c");
        const SafetensorsFile cases(bnb_dir() / "quantize_cases.safetensors");
        for (const FixtureCase& c : quantize_fixture_cases(cases))
            QTest::newRow(c.name.c_str()) << QString("quantize_cases.safetensors") << c;
        for (const FixtureCase& c : reference_fixture_cases())
            QTest::newRow(c.name.c_str()) << QString("bnb_reference.safetensors") << c;
    }

    void matchesBnbFixtures() {
        QFETCH(QString, file);
        QFETCH(FixtureCase, c);
        const SafetensorsFile f(bnb_dir() / file.toStdString());
        verify_none(check_fixture_case(f, c));
    }

    void fixtureCaseCount() {
        // 3 inputs x (fp32, bf16: 2 types x 3 blocksizes + fp16: 2 types x 1) x sq/dq
        const SafetensorsFile cases(bnb_dir() / "quantize_cases.safetensors");
        QCOMPARE(quantize_fixture_cases(cases).size(), std::size_t(3 * (2 * 6 + 2) * 2));
    }

    void hostEntriesMatchDeviceEntries() {
        const OwnedTensor input = make_input(Dist::Normal, {300, 70}, DType::BF16, 99);
        const Quantized4bit q = qls::cuda::quantize_4bit_cuda(input.view(), QuantType::NF4, 64, true);
        verify_none(compare_quantized(q, gpu_quantize(input.view(), QuantType::NF4, 64, true)));
        const std::vector<std::byte> out = qls::cuda::dequantize_4bit_cuda(q);
        QCOMPARE(out.size(), input.data.size());
        const std::vector<std::uint8_t> want = gpu_dequantize(q, DType::BF16);
        QVERIFY(std::memcmp(out.data(), want.data(), out.size()) == 0);

        const Quantized4bit sq = qls::cuda::quantize_4bit_cuda(input.view(), QuantType::NF4, 64);
        const NestedAbsmax given = qls::cuda::double_quant_cuda(sq.absmax, 0.125f);
        QCOMPARE(given.offset, 0.125f);
        QCOMPARE(given.codes, gpu_quantize(input.view(), QuantType::NF4, 64, true, 0.125f).nested->codes);
    }

    void rejectsBadArguments() {
        const OwnedTensor input = make_input(Dist::Normal, {16}, DType::F32, 3);
        QLS_VERIFY_THROWS_WITH(qls::cuda::quantize_4bit_cuda(input.view(), QuantType::NF4, 48), ConfigError,
                               "blocksize");
        QLS_VERIFY_THROWS_WITH(qls::cuda::quantize_4bit_cuda(input.view(), QuantType::NF4, 8192), ConfigError,
                               "blocksize");
        const TensorView ints{DType::I32, {4}, input.view().data};
        QLS_VERIFY_THROWS_WITH(qls::cuda::quantize_4bit_cuda(ints, QuantType::NF4, 64), ConfigError, "I32");
        const TensorView empty{DType::F32, {0, 5}, {}};
        QLS_VERIFY_THROWS_WITH(qls::cuda::quantize_4bit_cuda(empty, QuantType::NF4, 64), DataError, "empty");
        Quantized4bit q = qls::cuda::quantize_4bit_cuda(input.view(), QuantType::FP4, 64);
        q.absmax.push_back(1.0f);
        QLS_VERIFY_THROWS_WITH(qls::cuda::dequantize_4bit_cuda(q), DataError, "absmax");
    }

    // Backend::quantize_weight on the CudaBackend (kernels/quantize_weight.cpp) into poisoned
    // arrays, against the CPU quantizer handed this GPU's reciprocals, the CPU's torch-order mean
    // for this SM count, and the CpuBackend's op. The CpuBackend's shipped reciprocal table is the
    // hardware's for every 16-bit absmax (core/quant/rcp_approx.h), so without double quant
    // (whose nested scale is an arbitrary fp32) a 16-bit weight gives the CpuBackend's bytes.
    void quantizeWeightOp_data() {
        QTest::addColumn<RandomCase>("c");
        const std::vector<Shape> shapes = {{257, 333}, {3, 4097}, {1000, 129}, {1, 7}, {64, 64}};
        const Dist dists[] = {Dist::Normal, Dist::StudentT, Dist::Ties};
        const int blocksizes[] = {64, 128, 32, 4096};
        std::uint64_t seed = 500;
        for (const Shape& shape : shapes)
            for (const DType dtype : {DType::F32, DType::BF16, DType::F16})
                for (const QuantType type : {QuantType::NF4, QuantType::FP4})
                    for (const bool nested : {false, true}) {
                        RandomCase c{dists[seed % 3], shape, dtype, type, blocksizes[seed % 4], nested, seed};
                        ++seed;
                        QTest::newRow(c.name().c_str()) << c;
                    }
    }

    void quantizeWeightOp() {
        QFETCH(RandomCase, c);
        const OwnedTensor input = make_input(c.dist, c.shape, c.dtype, c.seed);
        const TensorView in = input.view();
        qls::cuda::CudaBackend& gpu = *m_gpu;
        CpuBackend cpu;
        const Quantized4bit got = test::quantize_on(gpu, in, c.type, c.blocksize, c.nested);
        const std::optional<float> offset = c.nested ? std::optional<float>(got.nested->offset) : std::nullopt;
        const std::string hw = test::compare_quant4(got, cpu_quantize(in, c.type, c.blocksize, c.nested, offset));
        QVERIFY2(hw.empty(), ("against the CPU quantizer with the GPU's reciprocals: " + hw).c_str());
        if (c.nested) {
            const float mean = torch_cuda_mean(quantize_4bit(in, c.type, c.blocksize).absmax, gpu.multiprocessors());
            QCOMPARE(std::bit_cast<std::uint32_t>(got.nested->offset), std::bit_cast<std::uint32_t>(mean));
        }
        const Quantized4bit on_cpu = test::quantize_on(cpu, in, c.type, c.blocksize, c.nested);
        if (c.dtype != DType::F32 && !c.nested) {
            const std::string diff = test::compare_quant4(got, on_cpu);
            QVERIFY2(diff.empty(), ("against the CpuBackend: " + diff).c_str());
        } else if (c.dtype != DType::F32) {
            QCOMPARE(got.packed, on_cpu.packed);
        }
    }

    // DeviceBaseModel quantizing on the GPU gives the CPU backend's bytes: for the fp32
    // llama3-tiny whose every reciprocal the CPU table already gets right (its quantization equals
    // bitsandbytes' GPU checkpoints, test_quantize_weight), and a bf16 model with blocks of 4096
    // that do not divide its weights. The staging buffer is freed when loading ends.
    void baseModelOnGpuMatchesCpu_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("blocksize");
        QTest::addColumn<bool>("dq");
        QTest::newRow("llama3-tiny nf4 dq") << "llama3-tiny" << int(QuantType::NF4) << 64 << true;
        QTest::newRow("llama3-tiny fp4") << "llama3-tiny" << int(QuantType::FP4) << 64 << false;
        QTest::newRow("llama3-tiny fp4 dq bs128") << "llama3-tiny" << int(QuantType::FP4) << 128 << true;
        QTest::newRow("bf16 sharded nf4 bs4096") << "llama3-tiny-bf16-sharded" << int(QuantType::NF4) << 4096 << false;
    }

    void baseModelOnGpuMatchesCpu() {
        QFETCH(QString, model);
        QFETCH(int, type);
        QFETCH(int, blocksize);
        QFETCH(bool, dq);
        const Model m = load_model(test::ref_dir() / "models" / model.toStdString());
        BaseWeightsOptions o;
        o.quant = static_cast<QuantType>(type);
        o.blocksize = blocksize;
        o.double_quant = dq;
        qls::cuda::CudaBackend gpu(0);
        CpuBackend cpu;
        const std::int64_t own = gpu.memory().snapshot().current_of(Usage::Workspace);  // cuBLAS's
        const DeviceBaseModel on_gpu(gpu, m, o), on_cpu(cpu, m, o);
        QCOMPARE(gpu.memory().snapshot().current_of(Usage::Workspace), own);
        QCOMPARE(gpu.memory().snapshot().peak_of(Usage::Workspace) - own, cpu.memory().snapshot().peak_of(Usage::Workspace));
        // Every host byte went through the pinned staging slots, which are gone after loading.
        QVERIFY(gpu.memory().snapshot().peak_of(Usage::PagedHost) > 0);
        QCOMPARE(gpu.memory().snapshot().current_of(Usage::PagedHost), std::int64_t(0));
        for (std::int64_t l = 0; l < m.config.num_layers; ++l)
            for (int i = 0; i < 7; ++i) {
                const std::string name = str_cat("model.layers.", l, ".", kLinears[i], ".weight");
                const Weight& w = m.weights.get(name);
                const LinearWeight& g = linear_of(on_gpu.layers()[std::size_t(l)], i);
                const LinearWeight& c = linear_of(on_cpu.layers()[std::size_t(l)], i);
                const std::string diff = test::compare_quant4(test::read_quant4(gpu, *g.quant, w.shape, w.view.dtype),
                                                              test::read_quant4(cpu, *c.quant, w.shape, w.view.dtype));
                QVERIFY2(diff.empty(), (name + ": " + diff).c_str());
            }
    }

    // A base loaded on one CUDA backend, read by another one on the same device (own streams,
    // cuBLAS handle, scratch, KV cache): the same greedy tokens as the owner's, in bf16 (the
    // base's compute dtype), with an adapter, and no base bytes on the reader's books.
    void sharedBaseReadByAnotherBackend() {
        const Model m = load_model(test::ref_dir() / "models" / "llama3-tiny");
        const Tokenizer tokenizer = load_model_tokenizer(m);
        const LoraAdapter adapter = test::random_adapter(m.config, 5);
        BaseWeightsOptions o;
        o.compute = DType::BF16;
        BackendChoice owner;
        owner.backend = std::make_unique<qls::cuda::CudaBackend>(0);
        owner.kind = "cuda";
        owner.id = "cuda:0";
        const auto shared = acquire_shared_base(owner, "test", m, o, {});
        const std::vector<int> prompt = tokenizer.encode("The sea", true);
        auto tokens = [&](Backend& b) {
            const auto lora = LoraParameters::from_adapter(b, m.config, adapter);
            LlamaGenerator g(b, shared->base(), lora.get(), std::int64_t(prompt.size()) + 12);
            return generate(g, tokenizer, prompt, test::greedy(12), {}).ids;
        };
        qls::cuda::CudaBackend reader(0);
        const std::vector<int> by_owner = tokens(shared->owner()), by_reader = tokens(reader);
        QCOMPARE(by_reader, by_owner);
        QCOMPARE(reader.memory().snapshot().peak_of(Usage::BaseWeights), std::int64_t(0));
    }
};

QTEST_GUILESS_MAIN(TestCudaQuant)
#include "test_cuda_quant.moc"
