// The CUDA row-wise and element-wise ops on the host: each kernel's loops (kernels/rmsnorm.cu,
// rope.cu, swiglu.cu, rows.cu) replayed here over the same cores (kernels/math/*_math.h) in the
// kernel's order, the CTA reductions in block_reduce's tree (launch_plan.h's tree_reduce), and
// compared with qls::CpuBackend on odd shapes, strided column blocks, 16-bit storage and
// non-finite inputs. The launch plans are checked at sizes past 2^31.
//
// Tolerances (u = 2^-24, fp32's unit roundoff):
// - RoPE, the embedding, row moves and add use the CPU's operations in the CPU's order with no
//   contraction (float_ops.h): equal bits.
// - RMSNorm sums the same exact (or double-rounded) products in double in another order: the
//   sums differ by ~C·2^-53 relative, so their float conversions differ by at most one ulp (2u
//   relative), and the few fp32 operations after add 2u each: the bounds below are 2^-22..2^-20
//   relative to the magnitudes of the terms involved.
// - e^x (SwiGLU): glibc's expf here (within 1 ulp), Cephes' on the CPU (within 2 ulp,
//   cpu_exp.h): 3 ulp, below 2^-21 relative (the device's expf is within 2 ulp: 4 ulp, 2^-21,
//   for the GPU against the CPU).
// - A 16-bit store rounds once on each side: two fp32 values within the bounds above may round
//   to neighbouring 16-bit values, one ulp apart (2^-7 relative for BF16, 2^-10 for F16, plus
//   the F16 subnormal spacing 2^-24 absolute).
#include <QtTest>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "kernel_cores_test_support.h"
#include "kernels/math/cross_entropy_math.h"
#include "kernels/math/launch_plan.h"
#include "kernels/math/rmsnorm_math.h"
#include "kernels/math/rope_math.h"
#include "kernels/math/rows_math.h"
#include "kernels/math/swiglu_math.h"

using namespace qls;
using namespace qls::kernel_cores_test;

namespace {

// ---- The kernels' loops on the host ----

void emulate_rmsnorm_forward(const RmsNormForwardArgs& a) {
    const std::int64_t rows = a.x.rows(), cols = a.x.cols();
    const int threads = km::row_threads(cols, km::kRmsNormMaxThreads);
    const km::Elem e = elem(a.x.dtype), we = elem(a.weight.dtype);
    std::vector<double> parts(static_cast<std::size_t>(threads));
    for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t base = km::row_base(r, cols);
        for (int t = 0; t < threads; ++t)
            parts[t] = km::rmsnorm_sumsq_part(a.x.data, e, base, cols, t, threads);
        const float rs = km::rmsnorm_rstd(km::tree_reduce(parts.data(), threads, sum_f64), cols, a.eps);
        a.rstd.ptr<float>()[r] = rs;
        for (std::int64_t i = 0; i < cols; ++i)
            km::store(a.out.data, e, base + i,
                      km::rmsnorm_out(km::load(a.weight.data, we, i), km::load(a.x.data, e, base + i), rs));
    }
}

void emulate_rmsnorm_backward(const RmsNormBackwardArgs& a) {
    const std::int64_t rows = a.x.rows(), cols = a.x.cols();
    const int threads = km::row_threads(cols, km::kRmsNormMaxThreads);
    const km::Elem e = elem(a.x.dtype), we = elem(a.weight.dtype);
    std::vector<double> parts(static_cast<std::size_t>(threads));
    for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t base = km::row_base(r, cols);
        for (int t = 0; t < threads; ++t)
            parts[t] =
                km::rmsnorm_dot_part(a.weight.data, we, a.x.data, a.dout.data, e, base, cols, t, threads);
        const float rs = a.rstd.ptr<const float>()[r];
        const float k = km::rmsnorm_backward_k(km::tree_reduce(parts.data(), threads, sum_f64), rs, cols);
        for (std::int64_t i = 0; i < cols; ++i) {
            float g = km::rmsnorm_dx(rs, km::load(a.weight.data, we, i), km::load(a.dout.data, e, base + i),
                                     km::load(a.x.data, e, base + i), k);
            if (a.dx_mode == GradMode::Accumulate) g = km::add(km::load(a.dx.data, e, base + i), g);
            km::store(a.dx.data, e, base + i, g);
        }
    }
}

void emulate_rope(const RopeArgs& a, bool inverse) {
    const std::int64_t heads = a.x.dim(1), d = a.x.dim(2), half = d / 2, items = a.x.dim(0) * heads * half;
    const km::Elem e = elem(a.x.dtype);
    for (std::int64_t w = 0; w < items; ++w) {
        const km::RopeItem it = km::rope_item(w, heads, half);
        const std::int64_t at = km::rope_offset(it, a.x.row_pitch(), d);
        const std::int64_t table =
            std::int64_t(a.positions.ptr<const std::int32_t>()[it.token]) * half + it.i;
        float x1 = km::load(a.x.data, e, at), x2 = km::load(a.x.data, e, at + half);
        km::rope_rotate(x1, x2, a.cos.ptr<const float>()[table], a.sin.ptr<const float>()[table], inverse);
        km::store(a.x.data, e, at, x1);
        km::store(a.x.data, e, at + half, x2);
    }
}

void emulate_swiglu_forward(const SwigluForwardArgs& a) {
    const std::int64_t cols = a.out.cols();
    const km::Elem e = elem(a.out.dtype);
    for (std::int64_t w = 0; w < a.out.numel(); ++w) {
        const km::RowCol rc = km::row_col(w, cols);
        const float g = km::load(a.gate.data, e, rc.row * a.gate.row_pitch() + rc.col);
        const float u = km::load(a.up.data, e, rc.row * a.up.row_pitch() + rc.col);
        km::store(a.out.data, e, w, km::swiglu_out(g, u));
    }
}

void emulate_swiglu_backward(const SwigluBackwardArgs& a) {
    const std::int64_t cols = a.dout.cols();
    const km::Elem e = elem(a.dout.dtype);
    for (std::int64_t w = 0; w < a.dout.numel(); ++w) {
        const km::RowCol rc = km::row_col(w, cols);
        const float g = km::load(a.gate.data, e, rc.row * a.gate.row_pitch() + rc.col);
        const float u = km::load(a.up.data, e, rc.row * a.up.row_pitch() + rc.col);
        float dg, du;
        km::swiglu_grads(g, u, km::load(a.dout.data, e, w), dg, du);
        km::store(a.dgate.data, e, rc.row * a.dgate.row_pitch() + rc.col, dg);
        km::store(a.dup.data, e, rc.row * a.dup.row_pitch() + rc.col, du);
    }
}

}  // namespace

class TestKernelCoresElementwise : public QObject {
    Q_OBJECT
private slots:
    void rmsnormMatchesCpu_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("wdtype");
        QTest::addColumn<qint64>("rows");
        QTest::addColumn<qint64>("cols");
        QTest::addColumn<bool>("accumulate");
        QTest::addColumn<float>("xscale");
        const DType dts[] = {DType::F32, DType::BF16, DType::F16};
        int k = 0;
        for (DType dt : dts)
            for (auto [n, c] : {std::pair<qint64, qint64>{3, 1}, {5, 17}, {4, 300}, {3, 4097}, {2, 256}}) {
                const DType wdt = dts[k % 3];
                const bool acc = k++ % 2 == 1;
                QTest::newRow(
                    str_cat(dtype_tag(dt), "/w-", dtype_tag(wdt), "/", n, "x", c, acc ? "/acc" : "").c_str())
                    << int(dt) << int(wdt) << n << c << acc << (c == 1 ? 1e-3f : 1.0f);
            }
        QTest::newRow("bf16/huge-x") << int(DType::BF16) << int(DType::F32) << qint64(3) << qint64(129)
                                     << true << 1e4f;
    }
    void rmsnormMatchesCpu() {
        QFETCH(int, dtype);
        QFETCH(int, wdtype);
        QFETCH(qint64, rows);
        QFETCH(qint64, cols);
        QFETCH(bool, accumulate);
        QFETCH(float, xscale);
        const auto dt = DType(dtype), wdt = DType(wdtype);
        const std::int64_t n = rows, c = cols;
        Random rnd(static_cast<unsigned>(n * 1000 + c));
        HostTensor x(dt, {n, c}), w(wdt, {c}), out(dt, {n, c}), rstd(DType::F32, {n}), dy(dt, {n, c}),
            dx(dt, {n, c});
        std::vector<float> xv = rnd.normal(static_cast<std::size_t>(n * c), xscale),
                           wv = rnd.normal(static_cast<std::size_t>(c), 0.3f);
        for (float& v : wv) v += 1.0f;
        set_values(x.tensor(), xv);
        set_values(w.tensor(), wv);
        set_values(dy.tensor(), rnd.normal(xv.size(), 1.0f));
        set_values(dx.tensor(), rnd.normal(xv.size(), 1.0f));
        const float eps = 1e-6f;
        CpuBackend cpu;
        HostTensor out_cpu = out, rstd_cpu = rstd, dx_cpu = dx;
        cpu.rmsnorm_forward({x.tensor(), w.tensor(), eps, out_cpu.tensor(), rstd_cpu.tensor()});
        emulate_rmsnorm_forward({x.tensor(), w.tensor(), eps, out.tensor(), rstd.tensor()});

        const std::vector<float> want_rstd = values(rstd_cpu.tensor()), want_out = values(out_cpu.tensor());
        std::vector<double> tol(want_rstd.size());
        for (std::size_t i = 0; i < tol.size(); ++i) tol[i] = 0x1p-22 * std::fabs(want_rstd[i]);
        expect_within("rstd", values(rstd.tensor()), want_rstd, tol);
        tol.resize(want_out.size());
        for (std::size_t i = 0; i < tol.size(); ++i)
            tol[i] = (0x1p-21 + store_ulp(dt)) * std::fabs(want_out[i]) + store_floor(dt);
        expect_within("rmsnorm out", values(out.tensor()), want_out, tol);

        const GradMode mode = accumulate ? GradMode::Accumulate : GradMode::Overwrite;
        cpu.rmsnorm_backward({x.tensor(), w.tensor(), rstd_cpu.tensor(), dy.tensor(), dx_cpu.tensor(), mode});
        const std::vector<float> dx0 = values(dx.tensor());
        emulate_rmsnorm_backward({x.tensor(), w.tensor(), rstd_cpu.tensor(), dy.tensor(), dx.tensor(), mode});
        // dx = r·w·dy − x·k, k = r³/C · Σ w·dy·x: errors relative to the two terms' magnitudes.
        const std::vector<float> xs = values(x.tensor()), ws = values(w.tensor()), dys = values(dy.tensor());
        const std::vector<float> want_dx = values(dx_cpu.tensor());
        for (std::int64_t r = 0; r < n; ++r) {
            const double rs = want_rstd[static_cast<std::size_t>(r)];
            double dot = 0;
            for (std::int64_t i = 0; i < c; ++i) dot += double(ws[i]) * dys[r * c + i] * xs[r * c + i];
            const double k = dot * rs * rs * rs / double(c);
            for (std::int64_t i = 0; i < c; ++i) {
                const auto at = static_cast<std::size_t>(r * c + i);
                const double scale = std::fabs(rs * ws[i] * dys[at]) + std::fabs(xs[at] * k) +
                                     (accumulate ? std::fabs(dx0[at]) : 0.0);
                tol[at] = 0x1p-20 * scale + store_ulp(dt) * std::fabs(want_dx[at]) + store_floor(dt);
            }
        }
        expect_within("rmsnorm dx", values(dx.tensor()), want_dx, tol);
    }

    // In place on a column block of q|k|v, forward then inverse: the CPU's operations exactly.
    void ropeIsBitExact_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<bool>("strided");
        QTest::addColumn<qint64>("d");
        for (DType dt : {DType::F32, DType::BF16, DType::F16})
            for (bool strided : {false, true})
                for (qint64 d : {2, 8, 128})
                    QTest::newRow(str_cat(dtype_tag(dt), strided ? "/qkv-block" : "/packed", "/D", d).c_str())
                        << int(dt) << strided << d;
    }
    void ropeIsBitExact() {
        QFETCH(int, dtype);
        QFETCH(bool, strided);
        QFETCH(qint64, d);
        const auto dt = DType(dtype);
        constexpr std::int64_t n = 7, hq = 3, hkv = 1, p = 11;
        const std::int64_t width = strided ? (hq + 2 * hkv) * d : hkv * d;
        Random rnd(static_cast<unsigned>(d + strided));
        HostTensor all(dt, {n, width}), cos_t(DType::F32, {p, d / 2}), sin_t(DType::F32, {p, d / 2}),
            pos(DType::I32, {n});
        set_values(all.tensor(), rnd.normal(static_cast<std::size_t>(n * width), 1.0f));
        std::vector<float> cv, sv;
        for (std::int64_t q = 0; q < p; ++q)
            for (std::int64_t i = 0; i < d / 2; ++i) {
                const double angle = double(q) * std::pow(10000.0, -2.0 * double(i) / double(d));
                cv.push_back(static_cast<float>(std::cos(angle)));
                sv.push_back(static_cast<float>(std::sin(angle)));
            }
        set_values(cos_t.tensor(), cv);
        set_values(sin_t.tensor(), sv);
        for (std::int64_t t = 0; t < n; ++t)
            pos.tensor().ptr<std::int32_t>()[t] = static_cast<std::int32_t>(rnd.integer(0, p - 1));
        HostTensor all_cpu = all;
        // k of q|k|v when strided (after the q heads), else the whole packed tensor.
        const std::int64_t at = strided ? hq * d : 0;
        const auto view_of = [&](const HostTensor& h) {
            return Tensor{
                h.tensor().data + at * std::int64_t(dtype_size(dt)), dt, {n, hkv, d}, strided ? width : 0};
        };
        CpuBackend cpu;
        for (bool inverse : {false, true}) {
            const RopeArgs mine{view_of(all), pos.tensor(), cos_t.tensor(), sin_t.tensor()};
            const RopeArgs theirs{view_of(all_cpu), pos.tensor(), cos_t.tensor(), sin_t.tensor()};
            inverse ? cpu.rope_backward(theirs) : cpu.rope_forward(theirs);
            emulate_rope(mine, inverse);
            expect_bits(inverse ? "rope inverse" : "rope", all.words(), all_cpu.words());
        }
    }

    void swigluMatchesCpu_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<bool>("strided");
        QTest::addColumn<bool>("extremes");
        for (DType dt : {DType::F32, DType::BF16, DType::F16})
            for (bool strided : {false, true})
                for (bool extremes : {false, true})
                    QTest::newRow(str_cat(dtype_tag(dt), strided ? "/gate-up-blocks" : "/packed",
                                          extremes ? "/extremes" : "")
                                      .c_str())
                        << int(dt) << strided << extremes;
    }
    void swigluMatchesCpu() {
        QFETCH(int, dtype);
        QFETCH(bool, strided);
        QFETCH(bool, extremes);
        const auto dt = DType(dtype);
        constexpr std::int64_t n = 5, cols = 301;
        const std::int64_t width = strided ? 2 * cols : cols;
        Random rnd(static_cast<unsigned>(dtype * 4 + strided * 2 + extremes));
        // Packed: gate and up are separate tensors (the second HostTensor of each pair).
        HostTensor gu(dt, {n, width}), up_own(dt, {n, cols}), dgu(dt, {n, width}), dup_own(dt, {n, cols});
        HostTensor out(dt, {n, cols}), dout(dt, {n, cols});
        std::vector<float> g = rnd.normal(static_cast<std::size_t>(n * cols), 3.0f);
        if (extremes) {
            const float special[] = {90.0f, -90.0f, 88.5f,    -88.5f,    87.5f, -87.5f, 30.0f,  -30.0f,
                                     0.0f,  -0.0f,  INFINITY, -INFINITY, NAN,   88.0f,  -88.0f, 17.0f};
            for (std::size_t k = 0; k < g.size(); k += 3) g[k] = special[(k / 3) % std::size(special)];
        }
        const auto gate_of = [&](const HostTensor& h) {
            return strided ? h.tensor().columns(0, cols) : h.tensor();
        };
        const auto up_of = [&](const HostTensor& h, const HostTensor& own) {
            return strided ? h.tensor().columns(cols, cols) : own.tensor();
        };
        set_values(gate_of(gu), g);
        set_values(up_of(gu, up_own), rnd.normal(g.size(), 1.0f));
        set_values(dout.tensor(), rnd.normal(g.size(), 1.0f));
        const HostTensor gu_in = gu, up_in = up_own;
        HostTensor out_cpu = out, dgu_cpu = dgu, dup_cpu = dup_own;
        CpuBackend cpu;
        cpu.swiglu_forward({gate_of(gu_in), up_of(gu_in, up_in), out_cpu.tensor()});
        emulate_swiglu_forward({gate_of(gu_in), up_of(gu_in, up_in), out.tensor()});
        cpu.swiglu_backward(
            {gate_of(gu_in), up_of(gu_in, up_in), dout.tensor(), gate_of(dgu_cpu), up_of(dgu_cpu, dup_cpu)});
        emulate_swiglu_backward(
            {gate_of(gu_in), up_of(gu_in, up_in), dout.tensor(), gate_of(dgu), up_of(dgu, dup_own)});

        const std::vector<float> gs = values(gate_of(gu_in)), us = values(up_of(gu_in, up_in)),
                                 dys = values(dout.tensor());
        const std::vector<float> want_out = values(out_cpu.tensor()),
                                 want_du = values(up_of(dgu_cpu, dup_cpu)),
                                 want_dg = values(gate_of(dgu_cpu));
        std::vector<double> tol_out(gs.size()), tol_du(gs.size()), tol_dg(gs.size());
        for (std::size_t k = 0; k < gs.size(); ++k) {
            // silu: e^x's 2^-21 through 1 + e and the division, then one rounding: 2^-20 relative.
            tol_out[k] = (0x1p-20 + store_ulp(dt)) * std::fabs(want_out[k]) + store_floor(dt);
            tol_du[k] = (0x1p-20 + store_ulp(dt)) * std::fabs(want_du[k]) + store_floor(dt);
            // dsilu = s·(1 + g·(1 − s)): s within 2^-20, so g·(1 − s) within |g|·s·2^-20 absolute;
            // outside |g| <= 88 both return the exact limits.
            const double gk = gs[k], s = 1.0 / (1.0 + std::exp(-gk)), ds = s * (1.0 + gk * (1.0 - s));
            const double scale =
                std::isfinite(gk) && std::fabs(gk) <= 88.0 ? std::fabs(ds) + std::fabs(gk) * s : 0.0;
            tol_dg[k] = 0x1p-19 * std::fabs(double(dys[k]) * us[k]) * scale +
                        (0x1p-22 + store_ulp(dt)) * std::fabs(want_dg[k]) + store_floor(dt);
        }
        expect_within("swiglu out", values(out.tensor()), want_out, tol_out);
        expect_within("swiglu dup", values(up_of(dgu, dup_own)), want_du, tol_du);
        expect_within("swiglu dgate", values(gate_of(dgu)), want_dg, tol_dg);
    }

    // Loads and one store each: the CPU's bits.
    void embeddingAndAddAreBitExact() {
        Random rnd(7);
        constexpr std::int64_t vocab = 37, n = 9, c = 19;
        for (DType tdt : {DType::F32, DType::BF16, DType::F16})
            for (DType odt : {DType::F32, DType::BF16, DType::F16}) {
                HostTensor table(tdt, {vocab, c}), tokens(DType::I32, {n}), out(odt, {n, c});
                set_values(table.tensor(), rnd.normal(static_cast<std::size_t>(vocab * c), 1.0f));
                for (std::int64_t t = 0; t < n; ++t)
                    tokens.tensor().ptr<std::int32_t>()[t] =
                        static_cast<std::int32_t>(t == 0 ? vocab - 1 : rnd.integer(0, vocab - 1));
                HostTensor out_cpu = out;
                CpuBackend cpu;
                cpu.embedding_forward({tokens.tensor(), table.tensor(), out_cpu.tensor()});
                // rows.cu's embedding_kernel, item by item.
                const Tensor o = out.tensor(), tb = table.tensor();
                for (std::int64_t w = 0; w < n * c; ++w) {
                    const km::RowCol rc = km::row_col(w, c);
                    km::store(
                        o.data, elem(odt), w,
                        km::load(tb.data, elem(tdt),
                                 std::int64_t(tokens.tensor().ptr<std::int32_t>()[rc.row]) * c + rc.col));
                }
                expect_bits(str_cat("embedding ", dtype_tag(tdt), " -> ", dtype_tag(odt)), out.words(),
                            out_cpu.words());
            }
        for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
            constexpr std::int64_t count = 1001;
            HostTensor dst(dt, {count}), src(dt, {count});
            std::vector<float> a = rnd.normal(count, 1.0f), b = rnd.normal(count, 1.0f);
            a[0] = INFINITY;
            b[1] = -INFINITY;
            a[2] = -INFINITY;
            a[3] = 65504.0f;  // F16's largest: the sum overflows to +inf there
            b[3] = 32.0f;
            set_values(dst.tensor(), a);
            set_values(src.tensor(), b);
            HostTensor dst_cpu = dst;
            CpuBackend cpu;
            cpu.add_inplace(dst_cpu.tensor(), src.tensor());
            const Tensor d = dst.tensor(), sr = src.tensor();
            for (std::int64_t w = 0; w < count; ++w)
                km::store(d.data, elem(dt), w,
                          km::add(km::load(d.data, elem(dt), w), km::load(sr.data, elem(dt), w)));
            expect_bits(str_cat("add_inplace ", dtype_tag(dt)), dst.words(), dst_cpu.words());
        }
    }

    // gather_rows / scatter_rows move whole rows in 4-, 2- or 1-byte units: the CPU's bytes.
    void rowMovesAreBitExact() {
        Random rnd(11);
        struct Case {
            DType dtype;
            std::int64_t cols;
            int unit;
        };
        for (const Case& k : {Case{DType::F32, 5, 4}, Case{DType::BF16, 7, 2}, Case{DType::U8, 3, 1},
                              Case{DType::BF16, 6, 4}}) {
            constexpr std::int64_t n = 23, picks = 9;
            HostTensor src(k.dtype, {n, k.cols}), rows(DType::I32, {picks}), few(k.dtype, {picks, k.cols}),
                many(k.dtype, {n, k.cols});
            auto* bytes = reinterpret_cast<std::uint8_t*>(src.tensor().data);
            for (std::size_t b = 0; b < src.tensor().bytes(); ++b)
                bytes[b] = static_cast<std::uint8_t>(rnd.integer(0, 255));
            std::vector<std::int32_t> order(n);
            for (std::int64_t i = 0; i < n; ++i) order[i] = static_cast<std::int32_t>(i);
            for (std::int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rnd.integer(0, i)]);
            std::memcpy(rows.tensor().data, order.data(), picks * sizeof(std::int32_t));
            // Whatever dst held before: scatter zeroes the rows it does not set.
            std::memset(many.tensor().data, 0x7f, many.tensor().bytes());
            HostTensor few_cpu = few, many_cpu = many;
            CpuBackend cpu;
            cpu.gather_rows(src.tensor(), rows.tensor(), few_cpu.tensor());
            cpu.scatter_rows(few_cpu.tensor(), rows.tensor(), many_cpu.tensor());
            const auto move = [&](const Tensor& from, const Tensor& to, bool scatter) {
                if (scatter) std::memset(to.data, 0, to.bytes());
                const std::size_t row_bytes = to.bytes() / static_cast<std::size_t>(to.rows());
                const int unit = km::row_unit_bytes(row_bytes, reinterpret_cast<std::uintptr_t>(from.data),
                                                    reinterpret_cast<std::uintptr_t>(to.data));
                QCOMPARE(unit, k.unit);
                const auto units = static_cast<std::int64_t>(row_bytes) / unit;
                for (std::int64_t w = 0; w < picks * units; ++w) {
                    const km::RowMove mv =
                        km::row_move(w, units, rows.tensor().ptr<const std::int32_t>(), scatter);
                    std::memcpy(to.data + mv.to * unit, from.data + mv.from * unit,
                                static_cast<std::size_t>(unit));
                }
            };
            move(src.tensor(), few.tensor(), false);
            move(few.tensor(), many.tensor(), true);
            expect_bits(str_cat("gather_rows ", dtype_name(k.dtype), " x", k.cols), few.words(),
                        few_cpu.words());
            expect_bits(str_cat("scatter_rows ", dtype_name(k.dtype), " x", k.cols), many.words(),
                        many_cpu.words());
        }
    }

    // Launch shapes and index math at sizes past 2^31.
    void launchPlans() {
        QCOMPARE(km::row_threads(1, 256), 32);
        QCOMPARE(km::row_threads(33, 256), 64);
        QCOMPARE(km::row_threads(300, 256), 256);
        QCOMPARE(km::row_threads(4097, km::kRmsNormMaxThreads), km::kRmsNormMaxThreads);
        QCOMPARE(km::row_threads(32000, km::kCrossEntropyMaxThreads), km::kCrossEntropyMaxThreads);
        for (std::int64_t cols : {1, 31, 32, 33, 129, 1000, 32003}) {
            const int t = km::row_threads(cols, 512);
            QVERIFY(t >= 32 && t <= 512 && (t & (t - 1)) == 0);
        }
        // One CTA per row up to grid.x's limit; beyond, CTAs loop over rows.
        QCOMPARE(km::row_blocks(70000), std::int64_t(70000));
        QCOMPARE(km::row_blocks(std::int64_t(3) << 30), km::kMaxGridX);
        // Grid-stride element loops: capped grid, every item reached.
        for (std::int64_t items :
             {std::int64_t(1), std::int64_t(1000), std::int64_t(256) << 20, std::int64_t(3) << 31}) {
            const std::int64_t blocks = km::elementwise_blocks(items, km::kElementwiseThreads);
            QVERIFY(blocks >= 1 && blocks <= km::kMaxElementwiseBlocks && blocks <= km::kMaxGridX);
            const std::int64_t stride = blocks * km::kElementwiseThreads;
            QVERIFY(stride >= items || blocks == km::kMaxElementwiseBlocks);
            QVERIFY((items + stride - 1) / stride * stride >= items);
        }
        QCOMPARE(km::elementwise_blocks(1000, 256), std::int64_t(4));
        // Logits of N = 70000 rows of V = 32000: the last row starts past 2^31.
        QCOMPARE(km::row_base(69999, 32000), std::int64_t(2239968000));
        // Work item decompositions with 64-bit items.
        const std::int64_t heads = 32, half = 64, e = std::int64_t(5) * 1000 * 1000 * 1000 + 12345;
        const km::RopeItem it = km::rope_item(e, heads, half);
        QCOMPARE((it.token * heads + it.head) * half + it.i, e);
        QVERIFY(it.head < heads && it.i < half);
        QCOMPARE(km::rope_offset({70000, 3, 5}, 3 * 4096, 128), std::int64_t(70000) * 3 * 4096 + 3 * 128 + 5);
        const km::RowCol rc = km::row_col(e, 13824);
        QCOMPARE(rc.row * 13824 + rc.col, e);
        const std::int32_t picked[] = {5, 0, 2};
        const km::RowMove g = km::row_move(2 * 7 + 3, 7, picked, false),
                          s = km::row_move(2 * 7 + 3, 7, picked, true);
        QCOMPARE(g.from, std::int64_t(2 * 7 + 3));
        QCOMPARE(g.to, std::int64_t(2 * 7 + 3));
        QCOMPARE(km::row_move(3, 7, picked, false).from, std::int64_t(5 * 7 + 3));
        QCOMPARE(s.to, std::int64_t(2 * 7 + 3));
        QCOMPARE(km::row_move(3, 7, picked, true).to, std::int64_t(5 * 7 + 3));
    }

    // block_reduce's order, shown with a merge that records it.
    void reductionTreeOrder() {
        std::vector<std::string> v;
        for (int i = 0; i < 8; ++i) v.push_back(std::to_string(i));
        const std::string r = km::tree_reduce(
            v.data(), 8, [](const std::string& a, const std::string& b) { return "(" + a + b + ")"; });
        QCOMPARE(QString::fromStdString(r), QStringLiteral("(((04)(26))((15)(37)))"));
    }
};

QTEST_GUILESS_MAIN(TestKernelCoresElementwise)
#include "test_kernel_cores_elementwise.moc"
