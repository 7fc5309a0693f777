// The CUDA kernels' loads and stores of activations (kernels/math/float_store.h) run here on the
// host: every store must round exactly as the CPU twin does (core/util/half.h, round to nearest
// even), so that a GPU op and a CPU op that compute the same fp32 value store the same bits.
// Exact equality, no tolerance: both sides claim the correctly rounded result.
#include <QtTest>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/util/half.h"
#include "kernels/math/float_store.h"

using namespace qls;
namespace km = qls::kmath;

namespace {

bool same_bits_or_both_nan(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

}  // namespace

class TestKernelCoresFloatStore : public QObject {
    Q_OBJECT
private slots:
    // Every 16-bit pattern reads back as the CPU reads it (bf16 and IEEE half).
    void loadsEvery16BitPattern() {
        for (std::uint32_t h = 0; h <= 0xffffu; ++h) {
            const auto p = static_cast<std::uint16_t>(h);
            QVERIFY2(same_bits_or_both_nan(km::bf16_to_float(p), bf16_to_f32(p)), qPrintable(QString::number(h, 16)));
            QVERIFY2(same_bits_or_both_nan(km::half_to_float(p), f16_to_f32(p)), qPrintable(QString::number(h, 16)));
        }
    }

    // Stores: a stride through all 2^32 float patterns (prime stride, so every exponent and the
    // low mantissa bits that decide ties are covered), plus every float whose rounding is a tie
    // or next to one in the half subnormal range, where the two rounding paths differ most.
    void storesRoundLikeTheCpuTwin() {
        std::uint64_t checked = 0;
        for (std::uint64_t u = 0; u <= 0xffffffffull; u += 4093) {
            const float f = std::bit_cast<float>(static_cast<std::uint32_t>(u));
            const std::uint16_t b = km::float_to_bf16(f), h = km::float_to_half(f);
            if (!std::isnan(f)) {
                QCOMPARE(b, f32_to_bf16(f));
                QCOMPARE(h, f32_to_f16(f));
            } else {
                QVERIFY(std::isnan(bf16_to_f32(b)) && std::isnan(f16_to_f32(h)));
            }
            ++checked;
        }
        QVERIFY(checked > 1000000);
        // |f| in [2^-26, 2^-13]: half subnormals and the first normals, every float there.
        for (std::uint32_t a = 0x32800000u; a <= 0x39000000u; ++a)
            for (const std::uint32_t sign : {0u, 0x80000000u}) {
                const float f = std::bit_cast<float>(a | sign);
                QCOMPARE(km::float_to_half(f), f32_to_f16(f));
            }
        // Around the largest half and the overflow threshold 65520.
        for (std::uint32_t a = 0x477fe000u; a <= 0x47800100u; ++a) {
            const float f = std::bit_cast<float>(a);
            QCOMPARE(km::float_to_half(f), f32_to_f16(f));
            QCOMPARE(km::float_to_bf16(f), f32_to_bf16(f));
        }
    }

    void typedLoadStoreRoundTrip() {
        const float inf = std::numeric_limits<float>::infinity();
        for (const float v : {0.0f, -0.0f, 1.0f / 3.0f, -65504.0f, 70000.0f, 1e-8f, inf, -inf}) {
            for (const km::Elem e : {km::Elem::F32, km::Elem::BF16, km::Elem::F16}) {
                std::uint32_t slot[2] = {0xdeadbeefu, 0xdeadbeefu};
                km::store(slot, e, 0, v);
                const float back = km::load(slot, e, 0);
                QVERIFY(same_bits_or_both_nan(back, km::rounded(e, v)));
                // A 16-bit store writes its two bytes only.
                if (e != km::Elem::F32) QCOMPARE(slot[0] >> 16, 0xdeadu);
                QCOMPARE(slot[1], 0xdeadbeefu);
            }
        }
        QCOMPARE(km::rounded(km::Elem::F16, 70000.0f), inf);
        QCOMPARE(km::rounded(km::Elem::BF16, 1.0f + 1.0f / 256), 1.0f);  // a tie: to even
    }
};

QTEST_GUILESS_MAIN(TestKernelCoresFloatStore)
#include "test_kernel_cores_float_store.moc"
