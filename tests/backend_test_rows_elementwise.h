// Rows of the backend op test for the row-wise and element-wise ops: RMSNorm, SwiGLU, the
// embedding lookup, fused cross-entropy, add, the step control, the AdamW step, and the
// memory operations every other row relies on.
//
// N rows, C channels, I intermediate, V vocab.
#pragma once
#include <tuple>

#include "backend_test_harness.h"
#include "backend_test_reference.h"
#include "core/data/batch.h"

namespace qls::test::ops {

inline std::vector<float> scaled(std::vector<float> v, float s) {
    for (float& x : v) x *= s;
    return v;
}

inline void run_rmsnorm(Context& ctx, std::int64_t n, std::int64_t c, DType wdtype, float eps, float x_scale,
                        GradMode mode) {
    Tensors ts(ctx.backend);
    const std::vector<float> x = scaled(ctx.normal(static_cast<std::size_t>(n * c), 1.0f), x_scale);
    std::vector<float> w = ctx.normal(static_cast<std::size_t>(c), 0.3f);
    for (float& v : w) v += 1.0f;
    const Tensor xt = ts.input("x", DType::F32, {n, c}, x).tensor();
    const Tensor wt = ts.input("weight", wdtype, {c}, w).tensor();
    GuardedTensor& out = ts.output_nan("out", {n, c});
    GuardedTensor& rstd = ts.output_nan("rstd", {n});
    ctx.backend.rmsnorm_forward({xt, wt, eps, out.tensor(), rstd.tensor()});
    const ref::RmsNorm rn{n, c, as_stored(w, wdtype), eps};
    const ref::Vec xd = widen(x);
    ref::Vec want_rstd;
    for (std::int64_t t = 0; t < n; ++t) want_rstd.push_back(rn.rstd(xd, t));
    expect_close(ctx.check, "rmsnorm out", out.floats(), rn.forward(xd), 1e-12);
    expect_close(ctx.check, "rmsnorm rstd", rstd.floats(), want_rstd, 1e-12);

    const std::vector<float> dy = ctx.normal(x.size(), 1.0f), dx0 = ctx.normal(x.size(), 1.0f);
    const Tensor dyt = ts.input("dout", DType::F32, {n, c}, dy).tensor();
    GuardedTensor& dx =
        mode == GradMode::Accumulate ? ts.output("dx", {n, c}, dx0) : ts.output_nan("dx", {n, c});
    ctx.backend.rmsnorm_backward({xt, wt, rstd.tensor(), dyt, dx.tensor(), mode});
    const std::vector<float> got = dx.floats();
    const ref::Vec dyd = widen(dy), want = rn.backward(xd, dyd);
    // dx = r·w·dy − (x·r³/C)·Σ w·dy·x cancels almost entirely when C = 1.
    double terms = 0;
    for (std::int64_t t = 0; t < n; ++t)
        for (std::int64_t i = 0; i < c; ++i) terms += std::pow(rn.w[i] * dyd[t * c + i] * want_rstd[t], 2);
    const bool acc = mode == GradMode::Accumulate;
    expect_close(ctx.check, "rmsnorm dx", got, acc ? plus(want, dx0) : want, 1e-10, terms);
    const std::vector<std::size_t> idx = ctx.sample(x.size(), 32);
    const ref::Vec fd = ref::central_differences(
        xd, [&](const ref::Vec& p) { return ref::weighted_sum(rn.forward(p), dyd); }, idx,
        1e-5 * std::min(1.0f, x_scale));
    expect_fd(ctx.check, "rmsnorm dx", acc ? std::span<const float>{} : std::span<const float>(got), want,
              idx, fd, 1e-8);
    ts.check(ctx.check);
}

// silu(g)·u; gates out to ±90 where exp overflows fp32, and +inf in forward (silu(+inf)·u is
// an infinity of u's sign).
inline void run_swiglu(Context& ctx, std::int64_t n, std::int64_t i, bool extremes) {
    Tensors ts(ctx.backend);
    const std::size_t count = static_cast<std::size_t>(n * i);
    std::vector<float> g = ctx.normal(count, 3.0f);
    const std::vector<float> u = ctx.normal(count, 1.0f);
    if (extremes) {
        const float big[] = {30.0f, -30.0f, 90.0f, -90.0f, 0.0f};
        for (std::size_t k = 0; k < count; ++k) g[k] = big[k % 5];
    }
    const Shape s{n, i};
    const ref::Vec gd = widen(g), ud = widen(u);
    const Tensor gt = ts.input("gate", DType::F32, s, g).tensor();
    const Tensor ut = ts.input("up", DType::F32, s, u).tensor();
    GuardedTensor& out = ts.output_nan("out", s);
    ctx.backend.swiglu_forward({gt, ut, out.tensor()});
    expect_close(ctx.check, "swiglu out", out.floats(), ref::swiglu(gd, ud), 1e-12);

    const std::vector<float> dy = ctx.normal(count, 1.0f);
    GuardedTensor& dg = ts.output_nan("dgate", s);
    GuardedTensor& du = ts.output_nan("dup", s);
    ctx.backend.swiglu_backward(
        {gt, ut, ts.input("dout", DType::F32, s, dy).tensor(), dg.tensor(), du.tensor()});
    ref::Vec want_dg(count), want_du(count);
    for (std::size_t k = 0; k < count; ++k) {
        const double sg = ref::sigmoid(gd[k]);
        want_du[k] = dy[k] * gd[k] * sg;
        want_dg[k] = dy[k] * ud[k] * sg * (1 + gd[k] * (1 - sg));
    }
    const std::vector<float> got_dg = dg.floats(), got_du = du.floats();
    expect_close(ctx.check, "swiglu dgate", got_dg, want_dg, 1e-12);
    expect_close(ctx.check, "swiglu dup", got_du, want_du, 1e-12);
    const std::vector<std::size_t> idx = ctx.sample(count, 32);
    const ref::Vec fd_g = ref::central_differences(
        gd, [&](const ref::Vec& p) { return ref::weighted_sum(ref::swiglu(p, ud), widen(dy)); }, idx);
    expect_close(ctx.check, "swiglu dgate vs central differences", sampled<float>(got_dg, idx), fd_g, 1e-9);

    if (extremes) {
        const std::vector<float> inf_gate = {INFINITY, INFINITY}, up = {2.0f, -3.0f};
        GuardedTensor& o = ts.output_nan("inf out", {1, 2});
        ctx.backend.swiglu_forward({ts.input("inf gate", DType::F32, {1, 2}, inf_gate).tensor(),
                                    ts.input("inf up", DType::F32, {1, 2}, up).tensor(), o.tensor()});
        expect_close(ctx.check, "swiglu(+inf)", o.floats(), ref::Vec{INFINITY, -INFINITY}, 0);
    }
    ts.check(ctx.check);
}

inline void run_embedding(Context& ctx, DType dtype, std::int64_t n, std::int64_t c) {
    constexpr std::int64_t vocab = 37;
    Tensors ts(ctx.backend);
    const std::vector<float> table = ctx.normal(static_cast<std::size_t>(vocab * c), 1.0f);
    std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
    for (auto& id : ids) id = static_cast<std::int32_t>(ctx.integer(0, vocab - 1));
    ids.front() = vocab - 1;
    ids.back() = 0;
    const Tensor tt = ts.input("table", dtype, {vocab, c}, table).tensor();
    GuardedTensor& out = ts.output_nan("out", {n, c});
    ctx.backend.embedding_forward({ts.input_i32("tokens", {n}, ids).tensor(), tt, out.tensor()});
    const ref::Vec stored = as_stored(table, dtype);
    std::vector<float> want;
    for (std::int32_t id : ids)
        for (std::int64_t k = 0; k < c; ++k) want.push_back(static_cast<float>(stored[id * c + k]));
    expect_bits(ctx.check, "embedding rows", out.floats(), want);
    ts.check(ctx.check);
}

// Rows with target kIgnoreIndex give loss 0 and gradient 0; the fused gradient is
// grad_scale·(softmax − onehot), checked against central differences of grad_scale·Σ loss.
inline void run_cross_entropy(Context& ctx, std::int64_t n, std::int64_t v, float logit_scale,
                              bool compute_grad) {
    Tensors ts(ctx.backend);
    std::vector<float> z = ctx.normal(static_cast<std::size_t>(n * v), logit_scale);
    std::vector<std::int32_t> targets(static_cast<std::size_t>(n));
    for (std::int64_t r = 0; r < n; ++r) {
        targets[r] = r % 3 == 1 ? kIgnoreIndex : static_cast<std::int32_t>(ctx.integer(0, v - 1));
        // A -inf logit away from the target: probability 0, gradient 0.
        if (v > 1 && targets[r] != kIgnoreIndex) z[r * v + (targets[r] + 1) % v] = -INFINITY;
    }
    std::int64_t trained = 0;
    for (std::int32_t t : targets) trained += t != kIgnoreIndex;
    const float grad_scale = 1.0f / static_cast<float>(std::max<std::int64_t>(1, trained));
    GuardedTensor& logits =
        compute_grad ? ts.output("logits", {n, v}, z) : ts.input("logits", DType::F32, {n, v}, z);
    GuardedTensor& losses = ts.output_nan("losses", {n});
    constexpr float before = 0.25f;  // the sum of earlier chunks
    GuardedTensor& loss_sum = ts.output("loss_sum", {1}, std::vector<float>{before});
    ctx.backend.cross_entropy({logits.tensor(), ts.input_i32("targets", {n}, targets).tensor(),
                               losses.tensor(), grad_scale, compute_grad, loss_sum.tensor()});
    const ref::CrossEntropy ce{n, v, targets};
    const ref::Vec zd = widen(z);
    expect_close(ctx.check, "losses", losses.floats(), ce.losses(zd), 1e-12);
    // The sum of the losses it wrote, rounded once into fp32: within half an fp32 ulp (2^-24
    // relative) of the exact sum, plus the double accumulation's own error (far below).
    double want_sum = before, magnitude = before;
    for (float l : losses.floats()) {
        want_sum += l;
        magnitude += std::fabs(l);
    }
    const float got_sum = loss_sum.floats()[0];
    ctx.check.expect(std::fabs(got_sum - want_sum) <= 0x1p-24 * magnitude + 0x1p-40, "loss_sum ", got_sum,
                     ", want ", want_sum);
    if (compute_grad) {
        const std::vector<float> got = logits.floats();
        expect_close(ctx.check, "fused gradient", got, ce.grad(zd, grad_scale), 1e-11);
        std::vector<std::size_t> idx;
        for (std::size_t i : ctx.sample(z.size(), 48))
            if (std::isfinite(z[i])) idx.push_back(i);
        const ref::Vec fd = ref::central_differences(
            zd,
            [&](const ref::Vec& p) {
                double s = 0;
                for (double l : ce.losses(p)) s += l;
                return grad_scale * s;
            },
            idx);
        expect_close(ctx.check, "fused gradient vs central differences", sampled<float>(got, idx), fd, 1e-9);
    }
    ts.check(ctx.check);
}

// dst += src, with infinities that must come out with the right sign.
inline void run_add(Context& ctx, std::int64_t count) {
    Tensors ts(ctx.backend);
    const std::size_t n = static_cast<std::size_t>(count);
    std::vector<float> a = ctx.normal(n, 1.0f), b = ctx.normal(n, 1.0f);
    if (n >= 3) {
        a[0] = INFINITY;   // +inf + finite
        b[1] = -INFINITY;  // finite + -inf
        a[2] = -INFINITY;
    }
    GuardedTensor& dst = ts.output("dst", {count}, a);
    ctx.backend.add_inplace(dst.tensor(), ts.input("src", DType::F32, {count}, b).tensor());
    ref::Vec sum(n);
    for (std::size_t i = 0; i < n; ++i) sum[i] = static_cast<double>(a[i]) + b[i];
    expect_close(ctx.check, "add_inplace", dst.floats(), sum, 1e-14);
    ts.check(ctx.check);
}

// gather_rows picks rows by index, in the order given; scatter_rows puts them back and zeroes
// every other row of its (NaN-filled) destination. Pure copies: bit-exact.
inline void run_rows(Context& ctx, std::int64_t n, std::int64_t c, std::int64_t picks) {
    Tensors ts(ctx.backend);
    const std::vector<float> src = ctx.normal(static_cast<std::size_t>(n * c), 1.0f);
    std::vector<std::int32_t> rows(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) rows[i] = static_cast<std::int32_t>(i);
    for (std::int64_t i = n - 1; i > 0; --i) std::swap(rows[i], rows[ctx.integer(0, i)]);
    rows.resize(static_cast<std::size_t>(picks));
    const Tensor st = ts.input("src", DType::F32, {n, c}, src).tensor();
    const Tensor rt = ts.input_i32("rows", {picks}, rows).tensor();
    GuardedTensor& few = ts.output_nan("gathered", {picks, c});
    ctx.backend.gather_rows(st, rt, few.tensor());
    std::vector<float> want_few, want_many(static_cast<std::size_t>(n * c), 0.0f);
    for (std::int32_t r : rows) want_few.insert(want_few.end(), src.begin() + r * c, src.begin() + (r + 1) * c);
    expect_bits(ctx.check, "gather_rows", few.floats(), want_few);
    GuardedTensor& many = ts.output_nan("scattered", {n, c});
    ctx.backend.scatter_rows(few.tensor(), rt, many.tensor());
    for (std::int32_t r : rows) std::copy(src.begin() + r * c, src.begin() + (r + 1) * c, want_many.begin() + r * c);
    expect_bits(ctx.check, "scatter_rows", many.floats(), want_many);
    ts.check(ctx.check);
}

// The step control over several gradient tensors: Σ (s·g)², torch's clip coefficient from it,
// and the finite flag. Σ is accumulated exactly enough and rounded once into fp32, so it is
// within 2^-24 relative of the double sum (plus 2^-30 for the accumulation order); the
// coefficient is a handful of fp32 operations on it (within 2^-21 relative).
inline void run_clip_grad_norm(Context& ctx, std::vector<std::int64_t> sizes, float grad_scale, float max_norm,
                               float loss, int poison) {
    Tensors ts(ctx.backend);
    std::vector<Tensor> grads;
    double sum = 0;
    for (std::size_t k = 0; k < sizes.size(); ++k) {
        std::vector<float> g = ctx.normal(static_cast<std::size_t>(sizes[k]), 0.05f);
        if (poison == 1 && k + 1 == sizes.size()) g.back() = NAN;
        if (poison == 2 && k == 0) g.front() = -INFINITY;
        for (float x : g) sum += (double(grad_scale) * x) * (double(grad_scale) * x);
        grads.push_back(ts.input(str_cat("grad ", k), DType::F32, {sizes[k]}, g).tensor());
    }
    GuardedTensor& out = ts.output_nan("out", {5});
    const Tensor loss_sum = ts.input("loss", DType::F32, {1}, std::vector<float>{loss}).tensor();
    ctx.backend.clip_grad_norm({grads, loss_sum, grad_scale, max_norm, out.tensor()});
    const std::vector<float> got = out.floats();
    const bool finite = poison == 0 && std::isfinite(loss);
    ctx.check.expect(got[0] == loss || (std::isnan(loss) && std::isnan(got[0])), "loss copied: ", got[0]);
    ctx.check.expect(got[3] == (finite ? 1.0f : 0.0f), "finite flag ", got[3]);
    ctx.check.expect(got[4] == 0.0f, "the update's overflow flag starts at 0: ", got[4]);
    if (!finite) {
        ctx.check.expect(got[2] == 0.0f, "update factor of a skipped step: ", got[2]);
        ts.check(ctx.check);
        return;
    }
    ctx.check.expect(std::fabs(got[1] - sum) <= (0x1p-24 + 0x1p-30) * sum, "sum of squares ", got[1], ", want ", sum);
    const double coef = max_norm > 0 ? std::min(1.0, max_norm / (std::sqrt(sum) + 1e-6)) : 1.0;
    ctx.check.expect(std::fabs(got[2] - grad_scale * coef) <= 0x1p-21 * grad_scale * coef, "update factor ", got[2],
                     ", want ", grad_scale * coef);
    ts.check(ctx.check);
}

// Several torch AdamW steps on the same state; each step's update p_after − p_before is
// compared, which is far more sensitive than the parameters themselves.
inline void run_adamw(Context& ctx, std::int64_t count, std::int64_t first_step) {
    Tensors ts(ctx.backend);
    const std::size_t n = static_cast<std::size_t>(count);
    const Shape s{count};
    ref::AdamW st{widen(ctx.normal(n, 1.0f)), ref::Vec(n, 0.0), ref::Vec(n, 0.0)};
    std::vector<float> p0(st.p.begin(), st.p.end());
    GuardedTensor& p = ts.output("param", s, p0);
    GuardedTensor& m = ts.output("m", s, std::vector<float>(n, 0.0f));
    GuardedTensor& v = ts.output("v", s, std::vector<float>(n, 0.0f));
    constexpr float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f, gs = 0.5f;
    for (std::int64_t step = first_step; step < first_step + 4; ++step) {
        std::vector<float> g = ctx.normal(n, 1.0f);
        if (n > 1) g[1] = 0.0f;
        const std::vector<float> before = p.floats();
        const ref::Vec ref_before = st.p;
        // m = β1·m + (1 − β1)·g can cancel: its fp32 rounding scales with the two terms.
        double m_terms = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const double t = b1 * std::fabs(st.m[i]) + (1 - b1) * std::fabs(double(g[i]) * gs);
            m_terms += t * t;
        }
        // The factor comes half from the host (grad_scale), half from the device (control[2]).
        GuardedTensor& control =
            ts.output(str_cat("control ", step), {5}, std::vector<float>{0, 0, 2.0f, 1.0f, 0.0f});
        ctx.backend.adamw_step({p.tensor(), ts.input(str_cat("grad ", step), DType::F32, s, g).tensor(),
                                m.tensor(), v.tensor(), lr, b1, b2, eps, wd, gs / 2, control.tensor(), step});
        ctx.check.expect(control.floats()[4] == 0.0f, "overflow flag of a finite update: ", control.floats()[4]);
        st.step(widen(g), lr, b1, b2, eps, wd, gs, step);
        const std::vector<float> after = p.floats();
        ref::Vec want_delta(n);
        for (std::size_t i = 0; i < n; ++i) want_delta[i] = st.p[i] - ref_before[i];
        std::vector<float> delta(n);
        for (std::size_t i = 0; i < n; ++i) delta[i] = after[i] - before[i];
        expect_close(ctx.check, str_cat("update at step ", step), delta, want_delta, 1e-8);
        expect_close(ctx.check, str_cat("m at step ", step), m.floats(), st.m, 1e-12, m_terms);
        expect_close(ctx.check, str_cat("v at step ", step), v.floats(), st.v, 1e-12);
    }
    // A skipped step (control[3] == 0) writes nothing at all.
    const std::vector<float> p_before = p.floats(), m_before = m.floats(), v_before = v.floats();
    const Tensor skip = ts.input("skip", DType::F32, {5}, std::vector<float>{NAN, NAN, 0.0f, 0.0f, 0.0f}).tensor();
    ctx.backend.adamw_step({p.tensor(), ts.input("grad skip", DType::F32, s, ctx.normal(n, 1.0f)).tensor(), m.tensor(),
                            v.tensor(), lr, b1, b2, eps, wd, gs, skip, first_step + 4});
    expect_bits(ctx.check, "param after a skipped step", p.floats(), p_before);
    expect_bits(ctx.check, "m after a skipped step", m.floats(), m_before);
    expect_bits(ctx.check, "v after a skipped step", v.floats(), v_before);
    // An update that overflows fp32 (lr · m̂/√v̂ ≈ lr for a learning rate past fp32's range) raises
    // the flag; the step's later tensors leave it raised.
    GuardedTensor& overflow = ts.output("control overflow", {5}, std::vector<float>{0, 0, 1.0f, 1.0f, 0.0f});
    ctx.backend.adamw_step({p.tensor(), ts.input("grad overflow", DType::F32, s, ctx.normal(n, 1.0f)).tensor(),
                            m.tensor(), v.tensor(), 3e38f, b1, b2, eps, 0.0f, 1.0f, overflow.tensor(), first_step + 4});
    ctx.check.expect(overflow.floats()[4] == 1.0f, "overflow flag after an update past fp32's range: ",
                     overflow.floats()[4]);
    ts.check(ctx.check);
}

// copy_from_host / copy_to_host / copy / fill_zero touch exactly the tensor's bytes.
inline void run_memory(Context& ctx, DType dtype, std::int64_t count) {
    Tensors ts(ctx.backend);
    const std::vector<float> v = ctx.normal(static_cast<std::size_t>(count), 1.0f);
    std::vector<std::byte> bytes(static_cast<std::size_t>(count) * dtype_size(dtype));
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(ctx.integer(0, 255));
    GuardedTensor& src = ts.input_bytes("src", dtype, {count}, bytes);
    ctx.check.expect(src.bytes() == bytes, "copy_to_host(copy_from_host(x)) != x");
    GuardedTensor& dst = ts.output("dst", {count}, v);
    const Tensor dst_as = {
        dst.tensor().data, dtype, {static_cast<std::int64_t>(bytes.size() / dtype_size(dtype))}};
    ctx.backend.copy(dst_as, src.tensor());
    std::vector<std::byte> copied(bytes.size());
    ctx.backend.copy_to_host(dst_as, copied);
    ctx.check.expect(copied == bytes, "copy changed the bytes");
    ctx.backend.fill_zero(dst_as);
    ctx.backend.copy_to_host(dst_as, copied);
    ctx.check.expect(copied == std::vector<std::byte>(bytes.size()), "fill_zero left non-zero bytes");
    ts.check(ctx.check);
}

inline std::vector<Row> elementwise_rows() {
    std::vector<Row> rows;
    constexpr std::pair<std::int64_t, std::int64_t> shapes[] = {{1, 1}, {3, 17}, {17, 129}, {129, 3}};
    const std::pair<DType, const char*> dtypes[] = {
        {DType::F32, "f32"}, {DType::BF16, "bf16"}, {DType::F16, "f16"}};
    int k = 0;
    for (auto [dtype, dname] : dtypes)
        for (auto [n, c] : shapes) {
            const float eps = k % 2 ? 1e-5f : 1e-6f;
            const GradMode mode = k++ % 3 == 1 ? GradMode::Accumulate : GradMode::Overwrite;
            // With C = 1 the norm is w·sign(x) but for x² near eps: only there is dx not a
            // cancellation down to rounding noise.
            const float x_scale = c == 1 ? 1e-3f : 1.0f;
            rows.push_back(
                {str_cat("rmsnorm/", dname, "/", n, "x", c, mode == GradMode::Accumulate ? "/dx-acc" : ""),
                 [=](Context& ctx) { run_rmsnorm(ctx, n, c, dtype, eps, x_scale, mode); }});
        }
    rows.push_back({"rmsnorm/f32/17x129/tiny-x", [](Context& ctx) {
                        run_rmsnorm(ctx, 17, 129, DType::F32, 1e-6f, 1e-3f, GradMode::Overwrite);
                    }});
    rows.push_back({"rmsnorm/bf16/3x17/huge-x", [](Context& ctx) {
                        run_rmsnorm(ctx, 3, 17, DType::BF16, 1e-5f, 1e4f, GradMode::Accumulate);
                    }});
    for (auto [n, i] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {3, 17}, {17, 129}})
        rows.push_back({str_cat("swiglu/", n, "x", i), [=](Context& ctx) { run_swiglu(ctx, n, i, false); }});
    rows.push_back({"swiglu/17x129/extremes", [](Context& ctx) { run_swiglu(ctx, 17, 129, true); }});
    for (auto [dtype, dname] : dtypes)
        for (auto [n, c] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {3, 17}, {17, 129}})
            rows.push_back({str_cat("embedding/", dname, "/", n, "x", c),
                            [=](Context& ctx) { run_embedding(ctx, dtype, n, c); }});
    for (auto [n, v] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {3, 17}, {17, 129}, {4, 32000}})
        for (bool grad : {true, false})
            rows.push_back({str_cat("cross_entropy/", n, "x", v, grad ? "/grad" : "/loss-only"),
                            [=](Context& ctx) { run_cross_entropy(ctx, n, v, 2.0f, grad); }});
    rows.push_back({"cross_entropy/17x129/logits-1000",
                    [](Context& ctx) { run_cross_entropy(ctx, 17, 129, 1000.0f, true); }});
    for (std::int64_t n : {1, 3, 17, 129, 70000})
        rows.push_back({str_cat("add_inplace/", n), [=](Context& ctx) { run_add(ctx, n); }});
    for (auto [n, c, picks] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{1, 1, 1}, {17, 3, 0}, {17, 3, 9},
                               {129, 17, 129}})
        rows.push_back({str_cat("gather_scatter_rows/", n, "x", c, "/", picks),
                        [=](Context& ctx) { run_rows(ctx, n, c, picks); }});
    const std::vector<std::int64_t> one{1}, several{3, 129, 1, 70000, 17};
    rows.push_back({"clip_grad_norm/one", [=](Context& ctx) { run_clip_grad_norm(ctx, one, 1.0f, 0.3f, 2.5f, 0); }});
    rows.push_back({"clip_grad_norm/clipped", [=](Context& ctx) { run_clip_grad_norm(ctx, several, 1.0f, 0.3f, 7.0f, 0); }});
    rows.push_back({"clip_grad_norm/not-clipped", [=](Context& ctx) { run_clip_grad_norm(ctx, several, 1.0f, 1e4f, 7.0f, 0); }});
    rows.push_back({"clip_grad_norm/no-clipping", [=](Context& ctx) { run_clip_grad_norm(ctx, several, 1.0f, 0.0f, 7.0f, 0); }});
    rows.push_back({"clip_grad_norm/unscaled", [=](Context& ctx) { run_clip_grad_norm(ctx, several, 1.0f / 1024, 0.3f, 7.0f, 0); }});
    rows.push_back({"clip_grad_norm/nan-grad", [=](Context& ctx) { run_clip_grad_norm(ctx, several, 1.0f, 0.3f, 7.0f, 1); }});
    rows.push_back({"clip_grad_norm/inf-grad", [=](Context& ctx) { run_clip_grad_norm(ctx, several, 1.0f, 0.3f, 7.0f, 2); }});
    rows.push_back({"clip_grad_norm/inf-loss", [=](Context& ctx) { run_clip_grad_norm(ctx, several, 1.0f, 0.3f, INFINITY, 0); }});
    rows.push_back({"clip_grad_norm/nan-loss", [=](Context& ctx) { run_clip_grad_norm(ctx, several, 1.0f, 0.0f, NAN, 0); }});
    for (auto [n, step] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {17, 1}, {129, 1}, {1000, 997}})
        rows.push_back(
            {str_cat("adamw/", n, "/from-step-", step), [=](Context& ctx) { run_adamw(ctx, n, step); }});
    for (auto [dtype, dname] :
         {std::pair<DType, const char*>{DType::F32, "f32"}, {DType::BF16, "bf16"}, {DType::U8, "u8"}})
        for (std::int64_t n : {1, 3, 17, 129})
            rows.push_back(
                {str_cat("memory/", dname, "/", n), [=](Context& ctx) { run_memory(ctx, dtype, n); }});
    return rows;
}

}  // namespace qls::test::ops
