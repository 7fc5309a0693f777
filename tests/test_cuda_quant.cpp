// The 4-bit CUDA kernels (kernels/quantize_4bit.cu, kernels/dequantize_4bit.cu) against the CPU
// reference (core/quant) and the bitsandbytes fixtures, bit for bit. Every output is written
// twice over different poisons with guard bytes (kernels/bench/quant_check.h). Skips cleanly
// without a GPU.
//
// The CPU reference scales by a reciprocal taken as a parameter; here it is handed the GPU's
// rcp.approx.ftz.f32 of each absmax, which bnb's kernels use and no document specifies. The
// double-quant offset is a mean whose rounding depends on the summation order: GPU and CPU both
// follow torch's (core/quant/torch_cuda_mean.h), so offsets compare exactly, with bnb's too.
#include <QtTest>

#include "kernels/bench/bnb_fixture_cases.h"
#include "kernels/bench/quant_check.h"
#include "kernels/device_info.h"
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

}  // namespace

class TestCudaQuant : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        if (!qls::cuda::device_available()) QSKIP("no CUDA device");
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
};

QTEST_GUILESS_MAIN(TestCudaQuant)
#include "test_cuda_quant.moc"
