// The CUDA attention (kernels/flash_attention.cu) without a GPU: its kernels replayed on the
// host through their own cores and launch plans (flash_attention_emulation.h) must pass every
// attention row of the op table (backend_test_rows_attention.h: packed sequences with padding,
// GQA 1-4, head dims 1 to 129, a 200-token sequence over four tiles, scores in the hundreds,
// decoding against a cache; forward against a double-precision reference, gradients against its
// analytic gradient and central differences, with the limits those rows state), agree with the
// CPU twin in bf16 within one rounding, and the launch plans must fit the hardware.
#include <QtTest>

#include <cmath>
#include <random>

#include "backend_test_rows.h"
#include "core/backend/cpu/cpu_backend.h"
#include "core/util/half.h"
#include "flash_attention_emulation.h"

using namespace qls;
namespace ops = qls::test::ops;
namespace attn = qls::kmath::attn;

namespace {

std::vector<ops::Row> attention_rows() {
    std::vector<ops::Row> out;
    for (ops::Row& r : ops::attention_rows())
        if (r.name.starts_with("attention")) out.push_back(std::move(r));
    return out;
}

}  // namespace

class TestKernelCoresFlashAttention : public QObject {
    Q_OBJECT
private slots:
    void emulatedKernelsPassTheRows_data() {
        QTest::addColumn<int>("row");
        const auto rows = attention_rows();
        for (std::size_t i = 0; i < rows.size(); ++i) QTest::newRow(rows[i].name.c_str()) << static_cast<int>(i);
    }

    void emulatedKernelsPassTheRows() {
        QFETCH(int, row);
        const auto rows = attention_rows();
        test::EmulatedAttentionBackend backend;
        const ops::Checker check = ops::run_row(backend, rows[static_cast<std::size_t>(row)], 0xa77e0000u + row);
        QVERIFY2(check.ok(), check.report().c_str());
    }

    // Every head dim up to 256 has a plan within the 48 KiB a CTA gets without opting in, with
    // the register bounds the kernels' arrays assume (R rows × C chunks, KW keys × C chunks).
    void plansFitTheHardware() {
        for (std::int64_t d = 1; d <= attn::kMaxHeadDim; ++d) {
            const int c = attn::chunks_for(d);
            QVERIFY(c * attn::kWarp >= d);
            for (const bool dq : {false, true}) {
                const attn::ForwardPlan p = attn::forward_plan(d, dq);
                QCOMPARE(p.chunks, c);
                QCOMPARE(p.rows_per_warp, c == 8 ? 2 : 4);
                QVERIFY(p.keys >= 4 && p.keys <= attn::kWarp);
                QVERIFY(p.shared_floats * 4 <= attn::kSharedBudget);
                QCOMPARE(p.shared_floats, std::int64_t(p.rows()) * d * (dq ? 2 : 1) + 2 * std::int64_t(p.keys) * (d + 1));
            }
            const attn::KeyBlockPlan k = attn::key_block_plan(d);
            QCOMPARE(k.chunks, c);
            QVERIFY(k.keys_per_warp >= 1 && k.keys_per_warp <= 16 / c);
            QVERIFY(k.query_tile >= 8 && k.query_tile <= attn::kWarp);
            QVERIFY(k.shared_floats * 4 <= attn::kSharedBudget);
        }
        QCOMPARE(attn::chunks_for(257), 0);
        QCOMPARE(attn::forward_plan(257, false).chunks, 0);
        // The common head dims keep full 32-key tiles in the forward.
        QCOMPARE(attn::forward_plan(64, false).keys, 32);
        QCOMPARE(attn::forward_plan(128, false).keys, 32);
    }

    // The grid covers every query row of every sequence exactly once, in any mix of lengths.
    void blocksCoverEveryQueryOnce() {
        std::mt19937 rng(7);
        for (int trial = 0; trial < 200; ++trial) {
            const int sequences = 1 + static_cast<int>(rng() % 9);
            std::vector<std::int32_t> cu{0};
            for (int s = 0; s < sequences; ++s) cu.push_back(cu.back() + 1 + static_cast<std::int32_t>(rng() % 70));
            const std::int64_t n = cu.back();
            for (const std::int64_t rows : {8, 16, 32}) {
                std::vector<int> seen(static_cast<std::size_t>(n), 0);
                const auto bounds = [&](std::int64_t s) { return attn::varlen_bounds(cu.data(), s); };
                const std::int64_t grid = attn::block_grid(n, sequences, rows);
                std::int64_t used = 0;
                for (std::int64_t b = 0; b < grid; ++b) {
                    std::int64_t seq = -1, q0 = 0;
                    if (!attn::find_block(bounds, sequences, b, rows, seq, q0)) continue;
                    ++used;
                    const attn::SeqBounds sb = bounds(seq);
                    QVERIFY(q0 < sb.nq);
                    for (std::int64_t t = q0; t < std::min(sb.nq, q0 + rows); ++t) ++seen[sb.q_row0 + t];
                }
                for (int c : seen) QCOMPARE(c, 1);
                QVERIFY(used <= grid);
            }
        }
    }

    // In bf16 the replayed kernels and the CPU twin both compute in fp32 and round each output
    // once. Their fp32 results differ only by summation order (the fp32 rows above hold that to
    // NMSE 1e-10); rounded to nearest they land on the same bf16 value or on neighbours, one ulp
    // apart: at most 2^-7 of the value (bf16 keeps 8 significant bits). 2^-16 absolute covers
    // values near 0, where a gradient's cancelling terms leave its fp32 noise (~1e-6) larger.
    void bf16MatchesTheCpuTwin() {
        const std::int64_t n = 37, hq = 4, hkv = 2, d = 48;
        const std::vector<std::int32_t> cu = {0, 5, 6, 37};
        std::mt19937 rng(11);
        std::normal_distribution<float> nd(0.0f, 1.0f);
        auto bf16 = [&](std::int64_t count) {
            std::vector<std::uint16_t> v(static_cast<std::size_t>(count));
            for (auto& x : v) x = f32_to_bf16(nd(rng));
            return v;
        };
        const auto qh = bf16(n * hq * d), kh = bf16(n * hkv * d), vh = bf16(n * hkv * d), gh = bf16(n * hq * d);
        struct Result {
            std::vector<std::uint16_t> out, dq, dk, dv;
        };
        auto run = [&](Backend& be) {
            auto buf = [&](DType t, Shape s) { return be.allocate(dtype_size(t) * numel(s), Usage::Workspace, "t"); };
            const Shape qs{n, hq, d}, ks{n, hkv, d};
            Buffer bq = buf(DType::BF16, qs), bk = buf(DType::BF16, ks), bv = buf(DType::BF16, ks), bg = buf(DType::BF16, qs);
            Buffer bo = buf(DType::BF16, qs), bdq = buf(DType::BF16, qs), bdk = buf(DType::BF16, ks), bdv = buf(DType::BF16, ks);
            Buffer bl = buf(DType::F32, {hq, n}), bc = buf(DType::I32, {4});
            Buffer bw = be.allocate(std::max<std::size_t>(1, be.attention_workspace_bytes({n, 31, hq, hkv, d})),
                                    Usage::Workspace, "w");
            const Tensor q = bq.view(0, DType::BF16, qs), k = bk.view(0, DType::BF16, ks), v = bv.view(0, DType::BF16, ks);
            const Tensor g = bg.view(0, DType::BF16, qs), o = bo.view(0, DType::BF16, qs);
            const Tensor dq = bdq.view(0, DType::BF16, qs), dk = bdk.view(0, DType::BF16, ks), dv = bdv.view(0, DType::BF16, ks);
            const Tensor lse = bl.view(0, DType::F32, {hq, n}), cut = bc.view(0, DType::I32, {4});
            const Tensor ws = bw.whole(DType::U8);
            be.copy_from_host(q, std::as_bytes(std::span(qh)));
            be.copy_from_host(k, std::as_bytes(std::span(kh)));
            be.copy_from_host(v, std::as_bytes(std::span(vh)));
            be.copy_from_host(g, std::as_bytes(std::span(gh)));
            be.copy_from_host(cut, std::as_bytes(std::span(cu)));
            const float scale = 1.0f / std::sqrt(float(d));
            be.attention_forward({q, k, v, cut, 31, scale, o, lse, ws});
            be.attention_backward({q, k, v, cut, 31, scale, o, lse, g, dq, dk, dv, true, ws});
            auto get = [&](const Tensor& t) {
                std::vector<std::uint16_t> h(static_cast<std::size_t>(t.numel()));
                be.copy_to_host(t, std::as_writable_bytes(std::span(h)));
                return h;
            };
            return Result{get(o), get(dq), get(dk), get(dv)};
        };
        CpuBackend cpu;
        test::EmulatedAttentionBackend kernel;
        const Result c = run(cpu), e = run(kernel);
        auto compare = [](const char* what, const std::vector<std::uint16_t>& got, const std::vector<std::uint16_t>& want) {
            int exact = 0;
            for (std::size_t i = 0; i < want.size(); ++i) {
                const float a = bf16_to_f32(got[i]), b = bf16_to_f32(want[i]);
                exact += got[i] == want[i];
                QVERIFY2(std::fabs(a - b) <= 0x1p-7f * std::fabs(b) + 0x1p-16f,
                         qPrintable(QString("%1[%2]: kernel %3, cpu %4").arg(what).arg(i).arg(a).arg(b)));
            }
            qInfo("%s: %d of %zu bf16 values identical to the CPU twin's", what, exact, want.size());
        };
        compare("out", e.out, c.out);
        compare("dq", e.dq, c.dq);
        compare("dk", e.dk, c.dk);
        compare("dv", e.dv, c.dv);
    }
};

QTEST_GUILESS_MAIN(TestKernelCoresFlashAttention)
#include "test_kernel_cores_flash_attention.moc"
