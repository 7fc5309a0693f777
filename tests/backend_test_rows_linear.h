// Rows of the backend op test for the frozen linear layer with LoRA (formats.md §5) and for
// dequantize_weight: dense F32/BF16/F16 and bitsandbytes NF4/FP4 (plain and double-quantized
// absmax) bases, made by our quantizer and compared against its host dequantization.
//
// N rows, in/out features, r LoRA rank.
#pragma once
#include <array>
#include <functional>
#include <optional>

#include "backend_test_harness.h"
#include "backend_test_reference.h"
#include "core/backend/dropout_mask.h"
#include "core/quant/quantize_4bit.h"

namespace qls::test::ops {

enum class WeightKind : std::uint8_t { F32, BF16, F16, NF4, NF4_DQ, FP4, FP4_DQ };
inline constexpr std::array<WeightKind, 7> kAllWeightKinds = {
    WeightKind::F32,    WeightKind::BF16, WeightKind::F16,   WeightKind::NF4,
    WeightKind::NF4_DQ, WeightKind::FP4,  WeightKind::FP4_DQ};

inline std::string weight_kind_name(WeightKind k) {
    constexpr const char* names[] = {"f32", "bf16", "f16", "nf4", "nf4-dq", "fp4", "fp4-dq"};
    return names[static_cast<int>(k)];
}

// A base weight on the backend (every tensor a guarded input, so that the op may not write
// it) and the fp32 values it stands for: the stored dense values or our host dequantization.
struct BaseWeight {
    LinearWeight w;
    std::vector<float> values;  // (out, in)
    std::vector<float> bias;    // (out), as stored
};

inline BaseWeight make_base_weight(Context& ctx, Tensors& ts, WeightKind kind, std::int64_t in,
                                   std::int64_t out, bool with_bias, int blocksize = 64) {
    BaseWeight bw;
    bw.w.in = in;
    bw.w.out = out;
    const std::vector<float> raw = ctx.normal(static_cast<std::size_t>(in * out), 0.5f);
    const DType dense_dtype = kind == WeightKind::BF16  ? DType::BF16
                              : kind == WeightKind::F16 ? DType::F16
                                                        : DType::F32;
    if (kind == WeightKind::F32 || kind == WeightKind::BF16 || kind == WeightKind::F16) {
        bw.w.dense = ts.input("weight", dense_dtype, {out, in}, raw).tensor();
        const ref::Vec stored = as_stored(raw, dense_dtype);
        bw.values.assign(stored.begin(), stored.end());
    } else {
        const QuantType type =
            kind == WeightKind::NF4 || kind == WeightKind::NF4_DQ ? QuantType::NF4 : QuantType::FP4;
        const bool dq = kind == WeightKind::NF4_DQ || kind == WeightKind::FP4_DQ;
        const TensorView view{DType::F32, {out, in}, std::as_bytes(std::span(raw))};
        const Quantized4bit q = quantize_4bit(view, type, blocksize, dq);
        bw.values = dequantize_4bit(q);
        Quant4View v;
        v.type = type;
        v.blocksize = blocksize;
        const auto n = [](const auto& vec) { return static_cast<std::int64_t>(vec.size()); };
        v.packed =
            ts.input_bytes("packed", DType::U8, {n(q.packed)}, std::as_bytes(std::span(q.packed))).tensor();
        const std::array<float, 16> map = dequant_values(q);
        v.quant_map = ts.input("quant_map", DType::F32, {16}, map).tensor();
        if (q.nested) {
            const NestedAbsmax& na = *q.nested;
            v.absmax_codes =
                ts.input_bytes("absmax_codes", DType::U8, {n(na.codes)}, std::as_bytes(std::span(na.codes)))
                    .tensor();
            v.nested_absmax = ts.input("nested_absmax", DType::F32, {n(na.absmax)}, na.absmax).tensor();
            v.code_map = ts.input("code_map", DType::F32, {n(na.code_map)}, na.code_map).tensor();
            v.offset = na.offset;
            v.nested_blocksize = na.blocksize;
        } else {
            v.absmax = ts.input("absmax", DType::F32, {n(q.absmax)}, q.absmax).tensor();
        }
        bw.w.quant = v;
    }
    if (with_bias) {
        // A 16-bit model stores its biases in the weights' dtype (Qwen2 q/k/v).
        const std::vector<float> b = ctx.normal(static_cast<std::size_t>(out), 0.5f);
        bw.w.bias = ts.input("bias", dense_dtype, {out}, b).tensor();
        const ref::Vec stored = as_stored(b, dense_dtype);
        bw.bias.assign(stored.begin(), stored.end());
    }
    return bw;
}

struct LinearCase {
    WeightKind kind = WeightKind::F32;
    std::int64_t n = 1, in = 1, out = 1;
    bool bias = false;
    std::int64_t rank = 0;  // 0: no LoRA
    float dropout = 0.0f;
    GradMode dx_mode = GradMode::Overwrite;
    bool want_dx = true;
    bool lora_grads = true;

    std::string name() const {
        std::string s = str_cat("linear/", weight_kind_name(kind), "/", n, "x", in, "x", out);
        if (bias) s += "/bias";
        if (rank) s += str_cat("/lora-r", rank);
        if (dropout > 0) s += "/dropout";
        if (!want_dx)
            s += "/no-dx";
        else if (dx_mode == GradMode::Accumulate)
            s += "/dx-acc";
        if (rank && !lora_grads) s += "/no-lora-grads";
        return s;
    }
};

// Outputs and gradients against the double reference in full; central differences of
// L = Σ dout ⊙ y on sampled elements check an overwritten dx directly and, where the op
// accumulates, the reference (expect_fd).
inline void run_linear(Context& ctx, const LinearCase& lc) {
    Tensors ts(ctx.backend);
    const BaseWeight bw = make_base_weight(ctx, ts, lc.kind, lc.in, lc.out, lc.bias);
    const std::vector<float> x = ctx.normal(static_cast<std::size_t>(lc.n * lc.in), 1.0f);
    const Tensor xt = ts.input("x", DType::F32, {lc.n, lc.in}, x).tensor();

    ref::Linear rl{lc.n, lc.in, lc.out, lc.rank, widen(bw.values), widen(bw.bias), {}, {}, {}, 1.7};
    LoraView lv;
    std::vector<float> da0, db0;
    GuardedTensor *da = nullptr, *db = nullptr;
    if (lc.rank) {
        const std::vector<float> a = ctx.normal(static_cast<std::size_t>(lc.rank * lc.in), 0.3f);
        const std::vector<float> b = ctx.normal(static_cast<std::size_t>(lc.out * lc.rank), 0.3f);
        rl.a = widen(a);
        rl.b = widen(b);
        lv.a = ts.input("lora_a", DType::F32, {lc.rank, lc.in}, a).tensor();
        lv.b = ts.input("lora_b", DType::F32, {lc.out, lc.rank}, b).tensor();
        lv.scaling = 1.7f;
        rl.scaling = lv.scaling;
        lv.dropout = lc.dropout;
        lv.dropout_seed = 0x1234567u + static_cast<std::uint64_t>(lc.n);
        if (lc.dropout > 0)
            for (std::int64_t i = 0; i < lc.n * lc.in; ++i)
                rl.mask.push_back(dropout_factor(lv.dropout_seed, static_cast<std::uint64_t>(i), lc.dropout));
        if (lc.lora_grads) {
            da0 = ctx.normal(a.size(), 0.1f);  // LoRA gradients accumulate over micro-batches
            db0 = ctx.normal(b.size(), 0.1f);
            da = &ts.output("lora_da", {lc.rank, lc.in}, da0);
            db = &ts.output("lora_db", {lc.out, lc.rank}, db0);
            lv.da = da->tensor();
            lv.db = db->tensor();
        }
    }
    const LoraPart part{lv, 0};
    const std::span<const LoraPart> lora = lc.rank ? std::span(&part, 1) : std::span<const LoraPart>{};
    const ref::Vec xd = widen(x);
    // The reference holds the very values the backend does (4-bit ones dequantized on the
    // host), so only fp32 rounding in the GEMMs separates them.
    constexpr double kLimit = 1e-10;

    GuardedTensor& out = ts.output_nan("out", {lc.n, lc.out});
    ctx.backend.linear_forward({xt, &bw.w, lora, out.tensor(), {}, {}});
    expect_close(ctx.check, "forward out", out.floats(), rl.forward(xd), kLimit);

    const std::vector<float> dy = ctx.normal(static_cast<std::size_t>(lc.n * lc.out), 1.0f);
    const Tensor dyt = ts.input("dout", DType::F32, {lc.n, lc.out}, dy).tensor();
    const std::vector<float> dx0 = ctx.normal(x.size(), 1.0f);
    GuardedTensor* dx = nullptr;
    if (lc.want_dx)
        dx = lc.dx_mode == GradMode::Accumulate ? &ts.output("dx", {lc.n, lc.in}, dx0)
                                                : &ts.output_nan("dx", {lc.n, lc.in});
    ctx.backend.linear_backward({xt, dyt, &bw.w, lora, {}, false, dx ? dx->tensor() : Tensor{}, lc.dx_mode});

    const ref::Vec dyd = widen(dy);
    const ref::Linear::Grads g = rl.backward(xd, dyd);
    auto fd_check = [&](const char* what, const std::vector<float>& got, bool accumulated,
                        const ref::Vec& want, ref::Vec point,
                        const std::function<double(const ref::Vec&)>& f) {
        const std::vector<std::size_t> idx = ctx.sample(point.size(), 24);
        const ref::Vec fd = ref::central_differences(std::move(point), f, idx);
        expect_fd(ctx.check, what, accumulated ? std::span<const float>{} : std::span<const float>(got), want,
                  idx, fd, 1e-8);
    };
    if (dx) {
        const std::vector<float> got = dx->floats();
        const bool acc = lc.dx_mode == GradMode::Accumulate;
        expect_close(ctx.check, "dx", got, acc ? plus(g.dx, dx0) : g.dx, kLimit);
        fd_check("dx", got, acc, g.dx, xd,
                 [&](const ref::Vec& p) { return ref::weighted_sum(rl.forward(p), dyd); });
    }
    if (da && db) {
        const std::vector<float> got_da = da->floats(), got_db = db->floats();
        expect_close(ctx.check, "lora da (accumulated)", got_da, plus(g.da, da0), kLimit);
        expect_close(ctx.check, "lora db (accumulated)", got_db, plus(g.db, db0), kLimit);
        fd_check("da", got_da, true, g.da, rl.a, [&](const ref::Vec& p) {
            ref::Linear r2 = rl;
            r2.a = p;
            return ref::weighted_sum(r2.forward(xd), dyd);
        });
        fd_check("db", got_db, true, g.db, rl.b, [&](const ref::Vec& p) {
            ref::Linear r2 = rl;
            r2.b = p;
            return ref::weighted_sum(r2.forward(xd), dyd);
        });
    }
    ts.check(ctx.check);
}

// The dropout mask seen from outside: with W = 0, A = B = I and x = 1 the forward output is
// the mask itself, and backward with dout = 1 returns it in dx. Both must be the same
// mask, hold only 0 and 1/(1 − p), keep 1 − p of the elements, and change with the seed.
inline void run_dropout_mask(Context& ctx) {
    constexpr std::int64_t n = 129, c = 129;
    constexpr float p = 0.25f;
    Tensors ts(ctx.backend);
    const std::vector<float> zeros(c * c, 0.0f), ones(n * c, 1.0f);
    std::vector<float> eye(c * c, 0.0f);
    for (std::int64_t i = 0; i < c; ++i) eye[i * c + i] = 1.0f;
    LinearWeight w;
    w.in = w.out = c;
    w.dense = ts.input("weight", DType::F32, {c, c}, zeros).tensor();
    const Tensor x = ts.input("x", DType::F32, {n, c}, ones).tensor();
    LoraView lv;
    lv.a = ts.input("lora_a", DType::F32, {c, c}, eye).tensor();
    lv.b = ts.input("lora_b", DType::F32, {c, c}, eye).tensor();
    lv.dropout = p;
    lv.dropout_seed = 77;
    auto forward = [&](std::uint64_t seed) {
        lv.dropout_seed = seed;
        GuardedTensor& out = ts.output_nan("out", {n, c});
        const LoraPart part{lv, 0};
        ctx.backend.linear_forward({x, &w, std::span(&part, 1), out.tensor(), {}, {}});
        return out.floats();
    };
    const std::vector<float> mask = forward(77);
    std::int64_t kept = 0;
    bool values_ok = true;
    for (float m : mask) {
        kept += m != 0.0f;
        values_ok = values_ok && (m == 0.0f || std::fabs(m - 1.0f / (1.0f - p)) < 1e-6f);
    }
    ctx.check.expect(values_ok, "dropout factors other than 0 and 1/(1-p)");
    const double frac = static_cast<double>(kept) / (n * c);
    const double sigma = std::sqrt(p * (1 - p) / (n * c));
    ctx.check.expect(std::fabs(frac - (1 - p)) < 4 * sigma, "keep fraction ", frac, ", want ", 1 - p, " ± ",
                     4 * sigma);
    ctx.check.expect(forward(77) == mask, "the same seed gave another mask");
    ctx.check.expect(forward(78) != mask, "another seed gave the same mask");

    lv.dropout_seed = 77;
    const Tensor dy = ts.input("dout", DType::F32, {n, c}, ones).tensor();
    GuardedTensor& dx = ts.output_nan("dx", {n, c});
    const LoraPart part{lv, 0};
    ctx.backend.linear_backward({x, dy, &w, std::span(&part, 1), {}, false, dx.tensor(), GradMode::Overwrite});
    ctx.check.expect(dx.floats() == mask, "backward used another mask than forward");
    ts.check(ctx.check);
}

inline void run_dequantize(Context& ctx, WeightKind kind, std::int64_t out, std::int64_t in, int blocksize) {
    Tensors ts(ctx.backend);
    const BaseWeight bw = make_base_weight(ctx, ts, kind, in, out, false, blocksize);
    GuardedTensor& got = ts.output_nan("dequantized", {out, in});
    ctx.backend.dequantize_weight(bw.w, got.tensor());
    expect_bits(ctx.check, "dequantize_weight", got.floats(), bw.values);
    ts.check(ctx.check);
}

// A stacked linear (three modules along the output; adapters on the first and last, of other
// ranks; a residual, in place or not; x·Aᵀ kept by forward) against its modules run one by
// one through the single-adapter path the rows above check against the reference. With
// one_a_block the adapters' A and dA share one block, without dropout (the fused path),
// else they are apart and one has dropout. Only the order of fp32 sums differs, hence the GEMM
// rows' NMSE limit.
inline void run_stacked_linear(Context& ctx, bool residual_in_place, bool one_a_block) {
    constexpr std::int64_t n = 17, in = 33, total = 26, ranks = 5;
    constexpr std::int64_t offsets[3] = {0, 12, 17}, outs[3] = {12, 5, 9}, rank[3] = {2, 0, 3};
    constexpr double kLimit = 1e-10;
    Tensors ts(ctx.backend);
    LinearWeight w;
    w.in = in;
    w.out = total;
    w.dense = ts.input("w", DType::F32, {total, in}, ctx.normal(total * in, 0.2f)).tensor();
    const std::vector<float> x = ctx.normal(n * in, 1.0f), residual = ctx.normal(n * total, 1.0f);
    const Tensor xt = ts.input("x", DType::F32, {n, in}, x).tensor();
    // Each adapter twice: the stacked call's and the one-by-one calls' gradients.
    std::vector<LoraPart> stacked;
    std::vector<LoraPart> single[3];
    const Tensor a_block = ts.input("a block", DType::F32, {ranks, in}, ctx.normal(ranks * in, 0.3f)).tensor();
    const Tensor da_block = ts.output("da block", {ranks, in}, std::vector<float>(ranks * in, 0.0f)).tensor();
    for (int i = 0, row = 0; i < 3; ++i) {
        if (!rank[i]) continue;
        LoraView lv;
        lv.a = one_a_block ? a_block.row_slice(row, rank[i])
                           : ts.input(str_cat("a", i), DType::F32, {rank[i], in}, ctx.normal(rank[i] * in, 0.3f)).tensor();
        lv.b = ts.input(str_cat("b", i), DType::F32, {outs[i], rank[i]}, ctx.normal(outs[i] * rank[i], 0.3f)).tensor();
        lv.scaling = 0.5f + i;
        lv.dropout = i == 2 && !one_a_block ? 0.2f : 0.0f;
        lv.dropout_seed = 99 + i;
        LoraView other = lv;
        lv.da = one_a_block ? da_block.row_slice(row, rank[i])
                            : ts.output(str_cat("da", i), lv.a.shape, std::vector<float>(lv.a.numel(), 0.0f)).tensor();
        row += static_cast<int>(rank[i]);
        lv.db = ts.output(str_cat("db", i), lv.b.shape, std::vector<float>(lv.b.numel(), 0.0f)).tensor();
        other.da = ts.output(str_cat("da one ", i), lv.a.shape, std::vector<float>(lv.a.numel(), 0.0f)).tensor();
        other.db = ts.output(str_cat("db one ", i), lv.b.shape, std::vector<float>(lv.b.numel(), 0.0f)).tensor();
        stacked.push_back({lv, offsets[i]});
        single[i].push_back({other, 0});
    }
    auto part_weight = [&](int i) {
        LinearWeight p = w;
        p.out = outs[i];
        p.dense = w.dense.row_slice(offsets[i], outs[i]);
        return p;
    };
    auto host = [&](const Tensor& t) {
        std::vector<float> v(static_cast<std::size_t>(t.numel()));
        ctx.backend.copy_to_host(t, std::as_writable_bytes(std::span(v)));
        return v;
    };

    GuardedTensor& out = residual_in_place ? ts.output("out", {n, total}, residual) : ts.output_nan("out", {n, total});
    const Tensor res = residual_in_place ? out.tensor() : ts.input("residual", DType::F32, {n, total}, residual).tensor();
    GuardedTensor& xa = ts.output_nan("lora_xa", {n, ranks});
    ctx.backend.linear_forward({xt, &w, stacked, out.tensor(), res, xa.tensor()});
    std::vector<float> want(static_cast<std::size_t>(n * total));
    for (int i = 0; i < 3; ++i) {
        const LinearWeight p = part_weight(i);
        GuardedTensor& one = ts.output_nan(str_cat("out ", i), {n, outs[i]});
        ctx.backend.linear_forward({xt, &p, single[i], one.tensor(), {}, {}});
        const std::vector<float> o = one.floats();
        for (std::int64_t r = 0; r < n; ++r)
            for (std::int64_t c = 0; c < outs[i]; ++c)
                want[r * total + offsets[i] + c] = residual[r * total + offsets[i] + c] + o[r * outs[i] + c];
    }
    expect_close(ctx.check, "stacked forward", out.floats(), want, kLimit);

    const std::vector<float> dy = ctx.normal(n * total, 1.0f);
    const Tensor dyt = ts.input("dout", DType::F32, {n, total}, dy).tensor();
    GuardedTensor& dx = ts.output_nan("dx", {n, in});
    ctx.backend.linear_backward({xt, dyt, &w, stacked, xa.tensor(), true, dx.tensor(), GradMode::Overwrite});
    GuardedTensor& dx_one = ts.output_nan("dx one by one", {n, in});
    for (int i = 0; i < 3; ++i) {
        const LinearWeight p = part_weight(i);
        std::vector<float> dyi;
        for (std::int64_t r = 0; r < n; ++r)
            dyi.insert(dyi.end(), dy.begin() + r * total + offsets[i], dy.begin() + r * total + offsets[i] + outs[i]);
        ctx.backend.linear_backward({xt, ts.input(str_cat("dout ", i), DType::F32, {n, outs[i]}, dyi).tensor(), &p,
                                     single[i], {}, false, dx_one.tensor(),
                                     i == 0 ? GradMode::Overwrite : GradMode::Accumulate});
    }
    expect_close(ctx.check, "stacked dx", dx.floats(), widen(dx_one.floats()), kLimit);
    for (std::size_t k = 0, i = 0; i < 3; ++i) {
        if (!rank[i]) continue;
        const LoraView& sv = stacked[k++].view;
        expect_close(ctx.check, str_cat("stacked da ", i), host(sv.da), widen(host(single[i][0].view.da)), kLimit);
        expect_close(ctx.check, str_cat("stacked db ", i), host(sv.db), widen(host(single[i][0].view.db)), kLimit);
    }
    // Without forward's x·Aᵀ the same storage is filled again: the gradients double exactly as
    // they would with it (accumulation), and the storage holds what forward had put there.
    const std::vector<float> kept = xa.floats();
    std::vector<float> first_db;
    for (const LoraPart& p : stacked) {
        const std::vector<float> db = host(p.view.db);
        first_db.insert(first_db.end(), db.begin(), db.end());
    }
    GuardedTensor& fresh = ts.output_nan("lora_xa again", {n, ranks});
    ctx.backend.linear_backward({xt, dyt, &w, stacked, fresh.tensor(), false, {}, GradMode::Overwrite});
    expect_close(ctx.check, "x·Aᵀ computed in backward", fresh.floats(), widen(kept), kLimit);
    std::vector<float> second_db;
    for (const LoraPart& p : stacked) {
        const std::vector<float> db = host(p.view.db);
        second_db.insert(second_db.end(), db.begin(), db.end());
    }
    ref::Vec doubled;
    for (float v : first_db) doubled.push_back(2.0 * v);
    expect_close(ctx.check, "db after a second backward", second_db, doubled, kLimit);
    ts.check(ctx.check);
}

inline std::vector<Row> linear_rows() {
    std::vector<Row> rows;
    struct Dims {
        std::int64_t n, in, out;
    };
    constexpr Dims dims[] = {{1, 1, 1}, {3, 17, 5}, {17, 129, 3}, {129, 33, 17}};
    for (WeightKind kind : kAllWeightKinds)
        for (int s = 0; s < 4; ++s) {
            LinearCase lc{kind, dims[s].n, dims[s].in, dims[s].out};
            lc.bias = (s + static_cast<int>(kind)) % 2 == 1;
            lc.rank = s;
            lc.dropout = s == 2 ? 0.3f : 0.0f;
            lc.dx_mode = s % 2 ? GradMode::Accumulate : GradMode::Overwrite;
            rows.push_back({lc.name(), [lc](Context& c) { run_linear(c, lc); }});
        }
    LinearCase no_dx{WeightKind::NF4_DQ, 17, 129, 33, true, 4, 0.1f};
    no_dx.want_dx = false;  // layer 0: only the LoRA gradients are wanted
    LinearCase no_lora_grads{WeightKind::BF16, 5, 17, 129, true, 2, 0.0f};
    no_lora_grads.lora_grads = false;
    LinearCase plain{WeightKind::FP4, 17, 129, 33, false, 0, 0.0f, GradMode::Accumulate};
    const LinearCase dropout_acc{WeightKind::F16, 3, 17, 5, true, 3, 0.5f, GradMode::Accumulate};
    for (const LinearCase& lc : {no_dx, no_lora_grads, plain, dropout_acc})
        rows.push_back({lc.name(), [lc](Context& c) { run_linear(c, lc); }});
    rows.push_back({"linear/dropout-mask", run_dropout_mask});
    rows.push_back({"linear/stacked-3-parts", [](Context& c) { run_stacked_linear(c, false, false); }});
    rows.push_back({"linear/stacked-3-parts/residual-in-place", [](Context& c) { run_stacked_linear(c, true, false); }});
    rows.push_back({"linear/stacked-3-parts/one-a-block", [](Context& c) { run_stacked_linear(c, false, true); }});
    for (WeightKind kind : kAllWeightKinds)
        for (auto [out, in] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {3, 17}, {129, 129}})
            rows.push_back({str_cat("dequantize/", weight_kind_name(kind), "/", out, "x", in),
                            [=](Context& c) { run_dequantize(c, kind, out, in, 64); }});
    rows.push_back({"dequantize/nf4-dq/129x129/block256",
                    [](Context& c) { run_dequantize(c, WeightKind::NF4_DQ, 129, 129, 256); }});
    rows.push_back({"dequantize/fp4/17x129/block32",
                    [](Context& c) { run_dequantize(c, WeightKind::FP4, 17, 129, 32); }});
    return rows;
}

}  // namespace qls::test::ops
