// The GGUF block dequantizer on the GPU (kernels/ggml_dequantize.cu) against the CPU's
// (core/io/ggml_dequant): every type a GGUF base keeps its weights in, on the blocks llama.cpp's
// own tools wrote (tests/fixtures/gguf/types.gguf) and on random blocks with every code pattern.
// Both sides run core/io/ggml_block_decode.h, each operation rounded on its own, so F32 values
// must be identical bit for bit (NaN compared as NaN: the GPU does not keep NaN payloads); BF16
// and F16 are those values rounded to nearest even, compared with the CPU's rounding of them.
// Skips cleanly without a GPU.
#include <QtTest>

#include <bit>
#include <cmath>
#include <random>

#include "core/io/ggml_dequant.h"
#include "core/io/gguf_reader.h"
#include "core/util/error.h"
#include "core/util/half.h"
#include "kernels/device_info.h"
#include "kernels/ggml_dequantize.cuh"
#include "tests/test_support.h"

using namespace qls;

namespace {

constexpr GgmlType kTypes[] = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                               GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

// Random blocks whose f16 scales are finite (random bytes elsewhere: every code pattern).
std::vector<std::byte> random_blocks(GgmlType type, std::int64_t blocks, std::uint64_t seed) {
    const GgmlTypeInfo* info = ggml_type_info(type);
    std::mt19937_64 rng(seed);
    std::vector<std::byte> out(std::size_t(blocks) * info->type_size);
    for (std::byte& b : out) b = std::byte(rng() & 0xFF);
    std::normal_distribution<float> scale(0.0f, 0.01f);
    // Where each type keeps its f16 scale(s) inside a block (ggml-common.h).
    std::vector<std::size_t> scale_offsets = {0};
    if (type == GgmlType::Q4_1 || type == GgmlType::Q5_1 || type == GgmlType::Q4_K || type == GgmlType::Q5_K)
        scale_offsets = {0, 2};
    if (type == GgmlType::Q6_K) scale_offsets = {208};
    for (std::int64_t k = 0; k < blocks; ++k)
        for (std::size_t off : scale_offsets) {
            const std::uint16_t h = f32_to_f16(scale(rng));
            std::memcpy(&out[std::size_t(k) * info->type_size + off], &h, 2);
        }
    return out;
}

void compare(GgmlType type, std::span<const std::byte> blocks, std::int64_t n, const char* what) {
    std::vector<float> cpu(static_cast<std::size_t>(n));
    ggml_dequantize_row(type, blocks, cpu);
    const std::vector<std::byte> f32 = cuda::ggml_dequantize_cuda(type, blocks, n, DType::F32);
    const std::vector<std::byte> bf16 = cuda::ggml_dequantize_cuda(type, blocks, n, DType::BF16);
    const std::vector<std::byte> f16 = cuda::ggml_dequantize_cuda(type, blocks, n, DType::F16);
    for (std::int64_t i = 0; i < n; ++i) {
        const auto at = std::size_t(i);
        float g;
        std::uint16_t gb, gh;
        std::memcpy(&g, &f32[at * 4], 4);
        std::memcpy(&gb, &bf16[at * 2], 2);
        std::memcpy(&gh, &f16[at * 2], 2);
        const bool same = std::isnan(cpu[at]) ? std::isnan(g)
                                              : std::bit_cast<std::uint32_t>(g) == std::bit_cast<std::uint32_t>(cpu[at]);
        QVERIFY2(same, qPrintable(QString("%1 %2 value %3: GPU %4, CPU %5")
                                      .arg(what, ggml_type_info(type)->name.data()).arg(i).arg(g).arg(cpu[at])));
        if (std::isnan(cpu[at])) continue;
        QVERIFY2(gb == f32_to_bf16(cpu[at]) && gh == f32_to_f16(cpu[at]),
                 qPrintable(QString("%1 value %2: 16-bit rounding of %3").arg(what).arg(i).arg(cpu[at])));
    }
}

}  // namespace

class TestCudaGgml : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        if (!qls::cuda::device_available()) QSKIP("no CUDA device");
    }

    void fixtureBlocksMatchCpu() {
        const GgufFile f(qls::test::fixture_dir() / "gguf" / "types.gguf");
        int checked = 0;
        for (const GgufTensorInfo& t : f.tensors()) {
            if (!cuda::ggml_dequantize_supported(t.type)) continue;
            compare(t.type, t.data, t.numel(), t.name.c_str());
            ++checked;
        }
        QVERIFY(checked >= 5);  // Q8_0, Q4_0, Q4_1, Q4_K, Q6_K, Q5_K at least
    }

    void randomBlocksMatchCpu() {
        std::uint64_t seed = 1;
        for (GgmlType type : kTypes)
            for (std::int64_t blocks : {1, 3, 1000}) {  // one, a few, more than one grid pass
                const std::vector<std::byte> b = random_blocks(type, blocks, seed++);
                compare(type, b, blocks * ggml_type_info(type)->block_size, "random");
            }
    }

    void rejectsTypesItCannotDecode() {
        const std::vector<std::byte> b(256);
        QVERIFY_THROWS_EXCEPTION(DataError, cuda::ggml_dequantize_cuda(GgmlType::IQ4_NL, b, 32, DType::F32));
        QVERIFY_THROWS_EXCEPTION(DataError, cuda::ggml_dequantize_cuda(GgmlType::Q8_0, b, 32, DType::F32));
    }
};

QTEST_GUILESS_MAIN(TestCudaGgml)
#include "test_cuda_ggml.moc"
