// The CUDA cross-entropy and optimizer step on the host: the loops of kernels/cross_entropy.cu
// and optimizer.cu replayed over their cores (kernels/math/cross_entropy_math.h,
// optimizer_math.h) in the kernels' order, CTA reductions in block_reduce's tree (launch_plan.h's
// tree_reduce), compared with qls::CpuBackend: vocabularies of 1 to 32003, ignored targets, −inf,
// NaN and +inf logits, 16-bit logits with a loss scale, hundreds of gradients over chunk edges,
// clipping on and off, non-finite losses and gradients, AdamW's skipped and overflowing steps.
//
// Tolerances (u = 2^-24, fp32's unit roundoff):
// - AdamW uses the CPU's operations in the CPU's order with no contraction (float_ops.h), and
//   its per-step constants are computed on the host as the CPU does: equal bits.
// - The step control sums the same double products in another order (differences ~n·2^-53
//   relative), so Σ rounds to fp32 at most one ulp (2^-23) apart; the clip factor is √, +, 1/x
//   and two products on it: 2^-21.
// - e^x: glibc's expf here (within 1 ulp), Cephes' on the CPU (within 2 ulp, cpu_exp.h): 3 ulp,
//   below 2^-21 relative (the device's expf is within 2 ulp: 4 ulp, 2^-21, for the GPU).
// - Cross-entropy sums e^(z − m) in fp32 online, the CPU in double after the max: with n the
//   longest chain of additions and rescalings behind the sum (V/threads per thread, log2 threads
//   merges), the relative error of Σ is at most γ = 4n·u + 2^-21; the loss moves by γ, each
//   probability by γ + 2^-20 relative.
// - A 16-bit store rounds once on each side: one ulp apart at most (2^-7 relative for BF16,
//   2^-10 for F16, plus the F16 subnormal spacing 2^-24 absolute).
#include <QtTest>
#include <cmath>
#include <deque>
#include <string>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/data/batch.h"
#include "kernel_cores_test_support.h"
#include "kernels/math/cross_entropy_math.h"
#include "kernels/math/launch_plan.h"
#include "kernels/math/optimizer_math.h"

using namespace qls;
using namespace qls::kernel_cores_test;

namespace {

void emulate_cross_entropy(const CrossEntropyArgs& a) {
    const std::int64_t rows = a.logits.rows(), vocab = a.logits.cols();
    const int threads = km::row_threads(vocab, km::kCrossEntropyMaxThreads);
    const km::Elem e = elem(a.logits.dtype);
    std::vector<km::MaxSum> parts(static_cast<std::size_t>(threads));
    for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t base = km::row_base(r, vocab);
        const std::int32_t target = a.targets.ptr<const std::int32_t>()[r];
        float* loss = a.losses.ptr<float>() + r;
        if (target == kIgnoreIndex) {
            *loss = 0.0f;
            if (a.compute_grad)
                for (std::int64_t i = 0; i < vocab; ++i) km::store(a.logits.data, e, base + i, 0.0f);
            continue;
        }
        const float zt = km::load(a.logits.data, e, base + target);
        for (int t = 0; t < threads; ++t)
            parts[t] = km::max_sum_part(a.logits.data, e, base, vocab, t, threads);
        const km::MaxSum ms = km::tree_reduce(parts.data(), threads, km::max_sum_merge);
        *loss = km::max_sum_loss(ms, zt);
        if (!a.compute_grad) continue;
        const float k = km::softmax_grad_factor(ms, a.grad_scale);
        for (std::int64_t i = 0; i < vocab; ++i) {
            const float z = km::load(a.logits.data, e, base + i);
            km::store(a.logits.data, e, base + i, km::softmax_grad(z, ms.m, k, i == target, a.grad_scale));
        }
    }
    if (a.loss_sum.empty()) return;
    std::vector<double> sums(km::kLossSumThreads);
    for (int t = 0; t < km::kLossSumThreads; ++t)
        sums[t] = km::loss_sum_part(a.losses.ptr<const float>(), rows, t, km::kLossSumThreads);
    float& total = a.loss_sum.ptr<float>()[0];
    total = km::add(total, static_cast<float>(km::tree_reduce(sums.data(), km::kLossSumThreads, sum_f64)));
}

// clip_grad_norm's table (optimizer.cu builds the same) and its two kernels.
std::vector<km::ClipEntry> clip_table(const std::vector<Tensor>& grads, std::int64_t& chunks) {
    std::vector<km::ClipEntry> entries;
    chunks = 0;
    for (const Tensor& g : grads) {
        if (g.numel() == 0) continue;
        entries.push_back({g.ptr<const float>(), g.numel(), chunks});
        chunks += km::clip_chunks(g.numel());
    }
    return entries;
}

void emulate_clip_grad_norm(const ClipGradNormArgs& a) {
    const std::vector<Tensor> grads(a.grads.begin(), a.grads.end());
    std::int64_t chunks = 0;
    const std::vector<km::ClipEntry> entries = clip_table(grads, chunks);
    std::vector<double> partials(static_cast<std::size_t>(chunks)), parts(km::kClipThreads);
    for (std::int64_t c = 0; c < chunks; ++c) {
        const km::ClipEntry en = entries[static_cast<std::size_t>(
            km::clip_entry_of(entries.data(), std::int64_t(entries.size()), c))];
        for (int t = 0; t < km::kClipThreads; ++t)
            parts[t] = km::clip_chunk_part(en, c, a.grad_scale, t, km::kClipThreads);
        partials[static_cast<std::size_t>(c)] = km::tree_reduce(parts.data(), km::kClipThreads, sum_f64);
    }
    std::vector<double> final_parts(km::kClipFinalThreads);
    for (int t = 0; t < km::kClipFinalThreads; ++t)
        final_parts[t] = km::clip_partials_part(partials.data(), chunks, t, km::kClipFinalThreads);
    const double sum = km::tree_reduce(final_parts.data(), km::kClipFinalThreads, sum_f64);
    km::step_control(a.loss_sum.empty() ? 0.0f : a.loss_sum.ptr<const float>()[0], sum, a.grad_scale,
                     a.max_norm, a.out.ptr<float>());
}

void emulate_adamw(const AdamWArgs& a) {
    float scale = a.grad_scale;
    float* control = a.control.empty() ? nullptr : a.control.ptr<float>();
    if (control) {
        if (control[3] == 0.0f) return;
        scale = km::mul(a.grad_scale, control[2]);
    }
    const km::AdamWConstants k = km::adamw_constants(a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.step);
    bool ok = true;
    for (std::int64_t i = 0; i < a.param.numel(); ++i) {
        float& p = a.param.ptr<float>()[i];
        const bool finite = km::adamw_update(p, a.m.ptr<float>()[i], a.v.ptr<float>()[i],
                                             a.grad.ptr<const float>()[i], scale, k);
        ok = ok && finite;
    }
    if (!ok && control) control[4] = 1.0f;
}

}  // namespace

class TestKernelCoresLossOptimizer : public QObject {
    Q_OBJECT
private slots:
    void crossEntropyMatchesCpu_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<qint64>("rows");
        QTest::addColumn<qint64>("vocab");
        QTest::addColumn<bool>("grad");
        QTest::addColumn<float>("gradScale");
        QTest::addColumn<float>("logitScale");
        QTest::addColumn<bool>("nonfinite");
        for (DType dt : {DType::F32, DType::BF16, DType::F16})
            for (auto [n, v] :
                 {std::pair<qint64, qint64>{4, 1}, {6, 17}, {7, 129}, {3, 32000}, {4, 32003}, {5, 700}})
                for (bool grad : {true, false}) {
                    // F16 runs carry a loss scale in grad_scale (backend.h).
                    const float gs = dt == DType::F16 ? 1024.0f / float(n) : 1.0f / float(n);
                    QTest::newRow(str_cat(dtype_tag(dt), "/", n, "x", v, grad ? "/grad" : "/loss").c_str())
                        << int(dt) << n << v << grad << gs << 2.0f << false;
                }
        QTest::newRow("f32/logits-1000")
            << int(DType::F32) << qint64(7) << qint64(129) << true << 0.25f << 1000.0f << false;
        for (DType dt : {DType::F32, DType::BF16})
            QTest::newRow(str_cat(dtype_tag(dt), "/non-finite-rows").c_str())
                << int(dt) << qint64(9) << qint64(601) << true << 1.0f << 2.0f << true;
    }
    // Rows r % 3 == 1 are ignored; a −inf logit next to each target; with `nonfinite`, rows of
    // −inf only, with a NaN, with a +inf, and a −inf target.
    void crossEntropyMatchesCpu() {
        QFETCH(int, dtype);
        QFETCH(qint64, rows);
        QFETCH(qint64, vocab);
        QFETCH(bool, grad);
        QFETCH(float, gradScale);
        QFETCH(float, logitScale);
        QFETCH(bool, nonfinite);
        const auto dt = DType(dtype);
        const std::int64_t n = rows, v = vocab;
        Random rnd(static_cast<unsigned>(n * 7 + v));
        std::vector<float> z = rnd.normal(static_cast<std::size_t>(n * v), logitScale);
        HostTensor logits(dt, {n, v}), targets(DType::I32, {n}), losses(DType::F32, {n}),
            loss_sum(DType::F32, {1});
        std::int32_t* tg = targets.tensor().ptr<std::int32_t>();
        for (std::int64_t r = 0; r < n; ++r) {
            tg[r] = r % 3 == 1 ? kIgnoreIndex : static_cast<std::int32_t>(rnd.integer(0, v - 1));
            if (v > 1 && tg[r] != kIgnoreIndex) z[r * v + (tg[r] + 1) % v] = -INFINITY;
        }
        if (nonfinite) {
            for (std::int64_t i = 0; i < v; ++i) z[3 * v + i] = -INFINITY;  // only −inf: NaN
            z[5 * v + 7] = NAN;
            z[6 * v + 11] = INFINITY;
            z[8 * v + tg[8]] = -INFINITY;  // the target impossible: +inf loss
        }
        set_values(logits.tensor(), z);
        loss_sum.tensor().ptr<float>()[0] = 0.25f;  // the sum of earlier chunks
        HostTensor logits_cpu = logits, losses_cpu = losses, loss_sum_cpu = loss_sum;
        const std::vector<float> zs = values(logits.tensor());
        CpuBackend cpu;
        cpu.cross_entropy({logits_cpu.tensor(), targets.tensor(), losses_cpu.tensor(), gradScale, grad,
                           loss_sum_cpu.tensor()});
        emulate_cross_entropy(
            {logits.tensor(), targets.tensor(), losses.tensor(), gradScale, grad, loss_sum.tensor()});

        const int threads = km::row_threads(v, km::kCrossEntropyMaxThreads);
        const double chain = double((v + threads - 1) / threads) + std::log2(double(threads));
        const double gamma = 4.0 * chain * kU + 0x1p-21;
        const std::vector<float> want_loss = values(losses_cpu.tensor()),
                                 want_grad = values(logits_cpu.tensor());
        std::vector<double> tol_loss(static_cast<std::size_t>(n)), tol_grad(want_grad.size());
        double tol_sum = 0, magnitude = 0.25;
        for (std::int64_t r = 0; r < n; ++r) {
            // |Δ log Σ| <= γ, then each side rounds the loss to fp32 once.
            tol_loss[r] = tg[r] == kIgnoreIndex ? 0.0 : gamma + 0x1p-23 * std::fabs(want_loss[r]);
            tol_sum += tol_loss[r];
            magnitude += std::fabs(want_loss[r]);
            double m = -INFINITY, s = 0;
            for (std::int64_t i = 0; i < v; ++i) m = std::max(m, double(zs[r * v + i]));
            for (std::int64_t i = 0; i < v; ++i) s += std::exp(zs[r * v + i] - m);
            for (std::int64_t i = 0; i < v; ++i) {
                // e^(z − m)·k with k = grad_scale/Σ: γ from Σ, 2^-21 from e^x, roundings 2^-23.
                const auto at = static_cast<std::size_t>(r * v + i);
                const double p = tg[r] == kIgnoreIndex ? 0.0 : std::exp(zs[at] - m) / s;
                tol_grad[at] = (gamma + 0x1p-20) * gradScale * p +
                               (0x1p-23 + store_ulp(dt)) * std::fabs(want_grad[at]) +
                               (p > 0 ? store_floor(dt) : 0.0);
            }
        }
        expect_within("losses", values(losses.tensor()), want_loss, tol_loss);
        if (grad)
            expect_within("fused gradient", values(logits.tensor()), want_grad, tol_grad);
        else
            expect_bits("logits untouched without the gradient", logits.words(), logits_cpu.words());
        // Both sums round the double sum once into fp32 and add once: 2^-23 of the magnitude
        // beyond the losses' own differences.
        expect_within("loss_sum", values(loss_sum.tensor()), values(loss_sum_cpu.tensor()),
                      {tol_sum + 0x1p-23 * magnitude});
        if (nonfinite) {
            QVERIFY(std::isnan(losses.tensor().ptr<float>()[3]) &&
                    std::isnan(losses.tensor().ptr<float>()[5]) &&
                    std::isnan(losses.tensor().ptr<float>()[6]));
            QCOMPARE(losses.tensor().ptr<float>()[8], INFINITY);
        }
    }

    void clipGradNormMatchesCpu_data() {
        QTest::addColumn<int>("set");
        QTest::addColumn<float>("gradScale");
        QTest::addColumn<float>("maxNorm");
        QTest::addColumn<float>("loss");
        QTest::addColumn<int>("poison");  // 1: a NaN gradient, 2: an −inf gradient
        QTest::newRow("one") << 0 << 1.0f << 0.3f << 2.5f << 0;
        QTest::newRow("chunk-edges/clipped") << 1 << 1.0f << 0.3f << 7.0f << 0;
        QTest::newRow("chunk-edges/not-clipped") << 1 << 1.0f << 1e4f << 7.0f << 0;
        QTest::newRow("chunk-edges/no-max-norm") << 1 << 1.0f << 0.0f << 7.0f << 0;
        QTest::newRow("hundreds/unscaled") << 2 << 1.0f / 1024 << 0.3f << 7.0f << 0;
        QTest::newRow("hundreds/no-max-norm") << 2 << 1.0f << 0.0f << 7.0f << 0;
        QTest::newRow("hundreds/nan-grad") << 2 << 1.0f << 0.3f << 7.0f << 1;
        QTest::newRow("hundreds/inf-grad") << 2 << 1.0f << 0.3f << 7.0f << 2;
        QTest::newRow("inf-loss") << 1 << 1.0f << 0.3f << INFINITY << 0;
        QTest::newRow("nan-loss") << 1 << 1.0f << 0.0f << NAN << 0;
        QTest::newRow("no-gradients") << 3 << 1.0f << 0.3f << 1.0f << 0;
    }
    void clipGradNormMatchesCpu() {
        QFETCH(int, set);
        QFETCH(float, gradScale);
        QFETCH(float, maxNorm);
        QFETCH(float, loss);
        QFETCH(int, poison);
        Random rnd(static_cast<unsigned>(set * 10 + poison));
        std::vector<std::int64_t> sizes;
        if (set == 0) sizes = {1};
        if (set == 1) sizes = {4095, 4096, 4097, 0, 1, 8193, 70001};
        if (set == 2)
            for (int k = 0; k < 300; ++k) sizes.push_back(rnd.integer(1, 3000));
        std::deque<HostTensor> store;
        std::vector<Tensor> grads;
        for (std::int64_t size : sizes) {
            store.emplace_back(DType::F32, Shape{size});
            std::vector<float> g = rnd.normal(static_cast<std::size_t>(size), 0.05f);
            set_values(store.back().tensor(), g);
            grads.push_back(store.back().tensor());
        }
        if (poison == 1) grads.back().ptr<float>()[grads.back().numel() - 1] = NAN;
        if (poison == 2) grads.front().ptr<float>()[0] = -INFINITY;
        HostTensor loss_sum(DType::F32, {1}), out(DType::F32, {5});
        loss_sum.tensor().ptr<float>()[0] = loss;
        set_values(out.tensor(), std::vector<float>(5, NAN));
        HostTensor out_cpu = out;
        CpuBackend cpu;
        cpu.clip_grad_norm({grads, loss_sum.tensor(), gradScale, maxNorm, out_cpu.tensor()});
        emulate_clip_grad_norm({grads, loss_sum.tensor(), gradScale, maxNorm, out.tensor()});
        const std::vector<float> got = values(out.tensor()), want = values(out_cpu.tensor());
        // out[1]: the two double sums round to fp32 at most one ulp apart (2^-23); out[2] is
        // √, +, 1/x and two products on it: 2^-21. The rest exactly.
        const std::vector<double> tol{0.0, 0x1p-23 * std::fabs(want[1]), 0x1p-21 * std::fabs(want[2]), 0.0,
                                      0.0};
        expect_within("step control", got, want, tol);
        QCOMPARE(got[3], (poison == 0 && std::isfinite(loss)) ? 1.0f : 0.0f);
    }

    // The chunk table covers every element of every gradient exactly once.
    void clipPlanCoversEveryElement() {
        std::deque<HostTensor> store;
        std::vector<Tensor> grads;
        for (std::int64_t size : {1, 0, 4096, 4097, 12288, 5, 0, 9000}) {
            store.emplace_back(DType::F32, Shape{size});
            set_values(store.back().tensor(), std::vector<float>(static_cast<std::size_t>(size), 1.0f));
            grads.push_back(store.back().tensor());
        }
        std::int64_t chunks = 0;
        const std::vector<km::ClipEntry> entries = clip_table(grads, chunks);
        QCOMPARE(chunks, 1 + 1 + 2 + 3 + 1 + 3);
        std::int64_t counted = 0;
        for (std::int64_t c = 0; c < chunks; ++c) {
            const km::ClipEntry& en = entries[static_cast<std::size_t>(
                km::clip_entry_of(entries.data(), std::int64_t(entries.size()), c))];
            QVERIFY(en.first_chunk <= c && c < en.first_chunk + km::clip_chunks(en.numel));
            for (int t = 0; t < km::kClipThreads; ++t)
                counted += std::llround(km::clip_chunk_part(en, c, 1.0f, t, km::kClipThreads));
        }
        QCOMPARE(counted, std::int64_t(1 + 4096 + 4097 + 12288 + 5 + 9000));
        // A table past 2^31 chunks' worth of elements still finds each entry.
        const km::ClipEntry big[] = {
            {nullptr, 5, 0}, {nullptr, std::int64_t(1) << 45, 1}, {nullptr, 7, 1 + (std::int64_t(1) << 33)}};
        QCOMPARE(km::clip_entry_of(big, 3, 0), std::int64_t(0));
        QCOMPARE(km::clip_entry_of(big, 3, std::int64_t(1) << 33), std::int64_t(1));
        QCOMPARE(km::clip_entry_of(big, 3, 1 + (std::int64_t(1) << 33)), std::int64_t(2));
    }

    // Every AdamW call equals the CPU's bits: steps from 1 and from 997, the host and device
    // factors, a skipped step (control[3] == 0) and an overflowing update (control[4] raised).
    void adamwIsBitExact() {
        constexpr std::int64_t n = 1001;
        for (std::int64_t first : {1, 997}) {
            Random rnd(static_cast<unsigned>(first));
            HostTensor p(DType::F32, {n}), m(DType::F32, {n}), v(DType::F32, {n}), g(DType::F32, {n}),
                control(DType::F32, {5});
            set_values(p.tensor(), rnd.normal(n, 1.0f));
            HostTensor p_cpu = p, m_cpu = m, v_cpu = v, control_cpu = control;
            CpuBackend cpu;
            const auto step = [&](float lr, float wd, float grad_scale, const std::vector<float>& ctl,
                                  std::int64_t at, bool with_control) {
                std::vector<float> gv = rnd.normal(n, 1.0f);
                gv[1] = 0.0f;
                set_values(g.tensor(), gv);
                set_values(control.tensor(), ctl);
                set_values(control_cpu.tensor(), ctl);
                const Tensor c_mine = with_control ? control.tensor() : Tensor{},
                             c_cpu = with_control ? control_cpu.tensor() : Tensor{};
                cpu.adamw_step({p_cpu.tensor(), g.tensor(), m_cpu.tensor(), v_cpu.tensor(), lr, 0.9f, 0.999f,
                                1e-8f, wd, grad_scale, c_cpu, at});
                emulate_adamw({p.tensor(), g.tensor(), m.tensor(), v.tensor(), lr, 0.9f, 0.999f, 1e-8f, wd,
                               grad_scale, c_mine, at});
                const std::string what = str_cat("adamw step ", at, " lr ", lr);
                expect_bits(what + " param", p.words(), p_cpu.words());
                expect_bits(what + " m", m.words(), m_cpu.words());
                expect_bits(what + " v", v.words(), v_cpu.words());
                expect_bits(what + " control", control.words(), control_cpu.words());
            };
            step(1e-2f, 0.1f, 0.5f, {0, 0, 1, 1, 0}, first, false);
            step(1e-2f, 0.1f, 0.25f, {0, 0, 2.0f, 1, 0}, first + 1, true);
            step(3e-4f, 0.0f, 1.0f, {0, 0, 0.37f, 1, 0}, first + 2, true);
            const std::vector<std::uint32_t> before = p.words();
            step(1e-2f, 0.1f, 1.0f, {NAN, NAN, 0, 0, 0}, first + 3, true);
            expect_bits("a skipped step writes nothing", p.words(), before);
            step(3e38f, 0.0f, 1.0f, {0, 0, 1, 1, 0}, first + 3, true);
            QCOMPARE(control.tensor().ptr<float>()[4], 1.0f);
        }
    }

    // The online (max, Σ) pair against its definition, with the CPU's non-finite semantics.
    void onlineMaxSum() {
        km::MaxSum a = km::max_sum_identity();
        for (float z : {1.0f, -INFINITY, 3.0f, 2.0f}) a = km::max_sum_add(a, z);
        QCOMPARE(a.m, 3.0f);
        QVERIFY(std::fabs(a.s - (std::exp(-2.0) + 1 + std::exp(-1.0))) < 4 * kU * 2);
        // Merging with an empty part changes nothing; −inf alone sums to 0, the row's loss NaN.
        const km::MaxSum merged = km::max_sum_merge(a, km::max_sum_identity());
        QCOMPARE(merged.m, a.m);
        QCOMPARE(merged.s, a.s);
        const km::MaxSum only_neg_inf = km::max_sum_add(km::max_sum_identity(), -INFINITY);
        QCOMPARE(only_neg_inf.s, 0.0f);
        QVERIFY(std::isnan(km::max_sum_loss(only_neg_inf, -INFINITY)));
        QVERIFY(std::isnan(km::max_sum_add(a, NAN).s));
        QVERIFY(std::isnan(km::max_sum_add(a, INFINITY).s));
        QVERIFY(std::isnan(km::max_sum_merge(a, km::max_sum_add(km::max_sum_identity(), INFINITY)).s));
    }
};

QTEST_GUILESS_MAIN(TestKernelCoresLossOptimizer)
#include "test_kernel_cores_loss_optimizer.moc"
