// Rows of the backend op test for RoPE (default and llama3-scaled tables), causal GQA attention
// over packed segments with padding, and KV-cache decoding against full attention.
//
// N tokens, B batch, T tokens per row, Hq/Hkv heads, D head dim, P table positions.
#pragma once
#include <numbers>

#include "backend_test_harness.h"
#include "backend_test_reference.h"
#include "core/data/batch.h"
#include "core/model/rope_table.h"

namespace qls::test::ops {

inline LlamaConfig rope_config(std::int64_t head_dim, bool llama3) {
    LlamaConfig c;
    c.head_dim = head_dim;
    c.rope_theta = 10000.0;
    if (llama3) {
        // original 32 positions: head_dim 16 puts wavelengths below 8, between 8 and 32 (the
        // smoothed band) and above 32.
        c.rope_scaling = {RopeType::Llama3, 8.0, 1.0, 4.0, 32};
    }
    return c;
}

// transformers' _compute_default_rope_parameters / _compute_llama3_parameters, in double.
inline ref::Vec reference_inv_freq(const LlamaConfig& c) {
    const RopeScaling& s = c.rope_scaling;
    ref::Vec inv;
    for (std::int64_t i = 0; i < c.head_dim / 2; ++i) {
        const double f = 1.0 / std::pow(c.rope_theta, 2.0 * i / c.head_dim);
        const double wavelen = 2 * std::numbers::pi / f;
        if (s.type != RopeType::Llama3) {
            inv.push_back(f);
            continue;
        }
        const double low_wavelen = s.original_max_position / s.low_freq_factor;
        const double high_wavelen = s.original_max_position / s.high_freq_factor;
        if (wavelen < high_wavelen) {
            inv.push_back(f);
        } else if (wavelen > low_wavelen) {
            inv.push_back(f / s.factor);
        } else {
            const double smooth = (s.original_max_position / wavelen - s.low_freq_factor) /
                                  (s.high_freq_factor - s.low_freq_factor);
            inv.push_back((1 - smooth) * f / s.factor + smooth * f);
        }
    }
    return inv;
}

// rope_forward against the rotation in double, rope_backward as its transpose (central
// differences of Σ dout ⊙ rope(x)), and backward(forward(x)) == x.
inline void run_rope(Context& ctx, std::int64_t n, std::int64_t heads, std::int64_t d, bool llama3) {
    constexpr std::int64_t positions = 200;
    const LlamaConfig cfg = rope_config(d, llama3);
    const RopeTable table = make_rope_table(cfg, positions);
    {
        const ref::Vec inv = reference_inv_freq(cfg);
        ref::Vec want_cos, want_sin;
        for (std::int64_t p = 0; p < positions; ++p)
            for (double f : inv) {
                want_cos.push_back(std::cos(p * f));
                want_sin.push_back(std::sin(p * f));
            }
        // fp32 angles p·inv_freq: ~1e-5 absolute at p = 200.
        expect_close(ctx.check, "cos table", table.cos, want_cos, 1e-9);
        expect_close(ctx.check, "sin table", table.sin, want_sin, 1e-9);
    }
    Tensors ts(ctx.backend);
    std::vector<std::int32_t> pos(static_cast<std::size_t>(n));
    for (auto& p : pos) p = static_cast<std::int32_t>(ctx.integer(0, positions - 1));
    const Shape table_shape{positions, d / 2};
    const Tensor cos = ts.input("cos", DType::F32, table_shape, table.cos).tensor();
    const Tensor sin = ts.input("sin", DType::F32, table_shape, table.sin).tensor();
    const Tensor post = ts.input_i32("positions", {n}, pos).tensor();
    const ref::Vec rc = widen(table.cos), rs = widen(table.sin);

    const std::vector<float> x = ctx.normal(static_cast<std::size_t>(n * heads * d), 1.0f);
    GuardedTensor& xt = ts.output("x", {n, heads, d}, x);
    ctx.backend.rope_forward({xt.tensor(), post, cos, sin});
    const std::vector<float> rotated = xt.floats();
    expect_close(ctx.check, "rope forward", rotated, ref::rope(widen(x), n, heads, d, pos, rc, rs, false),
                 1e-12);
    ctx.backend.rope_backward({xt.tensor(), post, cos, sin});
    expect_close(ctx.check, "rope backward(forward(x)) vs x", xt.floats(), x, 1e-12);

    const std::vector<float> dy = ctx.normal(x.size(), 1.0f);
    GuardedTensor& dyt = ts.output("dout", {n, heads, d}, dy);
    ctx.backend.rope_backward({dyt.tensor(), post, cos, sin});
    const std::vector<float> dx = dyt.floats();
    expect_close(ctx.check, "rope backward", dx, ref::rope(widen(dy), n, heads, d, pos, rc, rs, true), 1e-12);
    const std::vector<std::size_t> idx = ctx.sample(x.size(), 32);
    const ref::Vec fd = ref::central_differences(
        widen(x),
        [&](const ref::Vec& p) {
            return ref::weighted_sum(ref::rope(p, n, heads, d, pos, rc, rs, false), widen(dy));
        },
        idx);
    std::vector<float> picked;
    for (std::size_t i : idx) picked.push_back(dx[i]);
    expect_close(ctx.check, "rope backward vs central differences", picked, fd, 1e-10);
    ts.check(ctx.check);
}

struct AttentionCase {
    std::int64_t b, t, hq, hkv, d;
    std::vector<std::int32_t> segments;  // (B, T); -1 is padding
    float scale;
    float q_sigma = 1.0f;  // large: scores in the hundreds, where a softmax without its max overflows
};

inline std::string attention_name(const char* op, const AttentionCase& a) {
    return str_cat(op, "/B", a.b, "-T", a.t, "-Hq", a.hq, "-Hkv", a.hkv, "-D", a.d,
                   a.q_sigma > 1 ? "/large-scores" : "");
}

// Segments [0]*len0 + [1]*len1 + ... per row, padded with -1 to T.
inline std::vector<std::int32_t> packed(std::int64_t t, std::initializer_list<std::int64_t> lens) {
    std::vector<std::int32_t> s;
    std::int32_t id = 0;
    for (std::int64_t len : lens) {
        s.insert(s.end(), static_cast<std::size_t>(len), id);
        ++id;
    }
    s.resize(static_cast<std::size_t>(t), -1);
    return s;
}

// The case's rows and segments as packed sequences (core/data/batch.h), the reference's
// (B, Hq, T) log-sum-exp in the op's (Hq, N) order, and a workspace the size the backend asks,
// filled with NaN: the op must write before it reads.
struct PackedCase {
    Tensor cu;
    std::int64_t max_seqlen;
    Tensor workspace;
    PackedCase(Context& ctx, Tensors& ts, const AttentionCase& ac) {
        const SequenceOffsets o = sequence_offsets(ac.b, ac.t, ac.segments);
        cu = ts.input_i32("cu_seqlens", {static_cast<std::int64_t>(o.cu.size())}, o.cu).tensor();
        max_seqlen = o.max_len;
        const std::size_t bytes =
            ctx.backend.attention_workspace_bytes({ac.b * ac.t, max_seqlen, ac.hq, ac.hkv, ac.d});
        const Tensor ws = ts.output_nan("workspace", {static_cast<std::int64_t>((bytes + 3) / 4)}).tensor();
        workspace = Tensor{ws.data, DType::U8, {static_cast<std::int64_t>(bytes)}};
    }
};

inline ref::Vec lse_by_head(const AttentionCase& ac, const ref::Vec& lse) {
    ref::Vec out(lse.size());
    for (std::int64_t bb = 0; bb < ac.b; ++bb)
        for (std::int64_t h = 0; h < ac.hq; ++h)
            for (std::int64_t tt = 0; tt < ac.t; ++tt)
                out[h * ac.b * ac.t + bb * ac.t + tt] = lse[(bb * ac.hq + h) * ac.t + tt];
    return out;
}

// Padding rows (segment −1) have no defined output beyond being finite; real rows never see
// them, so with dout = 0 there every gradient is defined everywhere.
inline void run_attention(Context& ctx, const AttentionCase& ac) {
    Tensors ts(ctx.backend);
    const ref::Attention ra{ac.b, ac.t, ac.hq, ac.hkv, ac.d, ac.segments, ac.scale};
    const std::size_t nq = static_cast<std::size_t>(ac.b * ac.t * ac.hq * ac.d);
    const std::size_t nkv = static_cast<std::size_t>(ac.b * ac.t * ac.hkv * ac.d);
    const std::vector<float> q = ctx.normal(nq, ac.q_sigma), k = ctx.normal(nkv, 1.0f),
                             v = ctx.normal(nkv, 1.0f);
    const Shape qs{ac.b * ac.t, ac.hq, ac.d}, kvs{ac.b * ac.t, ac.hkv, ac.d};
    const Tensor qt = ts.input("q", DType::F32, qs, q).tensor();
    const Tensor kt = ts.input("k", DType::F32, kvs, k).tensor();
    const Tensor vt = ts.input("v", DType::F32, kvs, v).tensor();
    const PackedCase pc(ctx, ts, ac);
    GuardedTensor& out = ts.output_nan("out", qs);
    GuardedTensor& lse = ts.output_nan("lse", {ac.hq, ac.b * ac.t});
    ctx.backend.attention_forward({qt, kt, vt, pc.cu, pc.max_seqlen, ac.scale, out.tensor(), lse.tensor(),
                                   pc.workspace});

    ref::Vec want_out, by_row;
    ra.forward(widen(q), widen(k), widen(v), want_out, by_row);
    ref::Vec want_lse = lse_by_head(ac, by_row);
    auto padding = [&](std::int64_t bb, std::int64_t tt) { return ac.segments[bb * ac.t + tt] < 0; };
    std::vector<float> dy = ctx.normal(nq, 1.0f);
    for (std::int64_t bb = 0; bb < ac.b; ++bb)
        for (std::int64_t tt = 0; tt < ac.t; ++tt) {
            if (!padding(bb, tt)) continue;
            for (std::int64_t h = 0; h < ac.hq; ++h) {
                want_lse[h * ac.b * ac.t + bb * ac.t + tt] = NAN;  // NaN reference: not compared
                for (std::int64_t i = 0; i < ac.d; ++i) {
                    want_out[ra.qi(bb, tt, h) + i] = NAN;
                    dy[ra.qi(bb, tt, h) + i] = 0.0f;
                }
            }
        }
    const std::vector<float> got_out = out.floats(), got_lse = lse.floats();
    expect_finite(ctx.check, "attention out", got_out);
    expect_finite(ctx.check, "attention lse", got_lse);
    expect_close(ctx.check, "attention out", got_out, want_out, 1e-10);
    expect_close(ctx.check, "attention lse", got_lse, want_lse, 1e-12);

    const Tensor dyt = ts.input("dout", DType::F32, qs, dy).tensor();
    GuardedTensor& dq = ts.output_nan("dq", qs);
    GuardedTensor& dk = ts.output_nan("dk", kvs);
    GuardedTensor& dv = ts.output_nan("dv", kvs);
    ctx.backend.attention_backward({qt, kt, vt, pc.cu, pc.max_seqlen, ac.scale, out.tensor(), lse.tensor(), dyt,
                                    dq.tensor(), dk.tensor(), dv.tensor(), true, pc.workspace});
    ref::Vec rdq, rdk, rdv;
    const ref::Vec qd = widen(q), kd = widen(k), vd = widen(v), dyd = widen(dy);
    ra.backward(qd, kd, vd, dyd, rdq, rdk, rdv);
    const std::vector<float> got[] = {dq.floats(), dk.floats(), dv.floats()};
    const ref::Vec* want[] = {&rdq, &rdk, &rdv};
    const char* names[] = {"dq", "dk", "dv"};
    for (int which = 0; which < 3; ++which) {
        expect_close(ctx.check, names[which], got[which], *want[which], 1e-9);
        const ref::Vec point = which == 0 ? qd : which == 1 ? kd : vd;
        const std::vector<std::size_t> idx = ctx.sample(point.size(), 24);
        const ref::Vec fd = ref::central_differences(
            point,
            [&](const ref::Vec& p) {
                ref::Vec o, l;
                ra.forward(which == 0 ? p : qd, which == 1 ? p : kd, which == 2 ? p : vd, o, l);
                return ref::weighted_sum(o, dyd);
            },
            idx);
        std::vector<float> picked;
        for (std::size_t i : idx) picked.push_back(got[which][i]);
        expect_close(ctx.check, str_cat(names[which], " vs central differences"), picked, fd, 1e-8);
    }
    ts.check(ctx.check);
}

// Decoding T tokens in chunks against one KV cache gives attention_forward's rows. Cache rows
// past the last visible one hold NaN: reading them would show.
inline void run_decode(Context& ctx, const AttentionCase& ac, std::initializer_list<std::int64_t> chunks) {
    Tensors ts(ctx.backend);
    const std::int64_t cap = ac.t + 3;
    const std::size_t nq = static_cast<std::size_t>(ac.b * ac.t * ac.hq * ac.d);
    const std::size_t nkv = static_cast<std::size_t>(ac.b * ac.t * ac.hkv * ac.d);
    const std::vector<float> q = ctx.normal(nq, 1.0f), k = ctx.normal(nkv, 1.0f), v = ctx.normal(nkv, 1.0f);
    const Shape qs{ac.b, ac.t, ac.hq, ac.d}, kvs{ac.b, ac.t, ac.hkv, ac.d};
    const std::vector<std::int32_t> one_segment(static_cast<std::size_t>(ac.b * ac.t), 0);
    AttentionCase one = ac;
    one.segments = one_segment;
    const PackedCase pc(ctx, ts, one);
    const Shape packed_q{ac.b * ac.t, ac.hq, ac.d}, packed_kv{ac.b * ac.t, ac.hkv, ac.d};
    GuardedTensor& full = ts.output_nan("full out", packed_q);
    GuardedTensor& lse = ts.output_nan("lse", {ac.hq, ac.b * ac.t});
    ctx.backend.attention_forward({ts.input("q", DType::F32, packed_q, q).tensor(),
                                   ts.input("k", DType::F32, packed_kv, k).tensor(),
                                   ts.input("v", DType::F32, packed_kv, v).tensor(), pc.cu, pc.max_seqlen, ac.scale,
                                   full.tensor(), lse.tensor(), pc.workspace});
    const std::vector<float> full_out = full.floats();
    ref::Vec want_out, want_lse;
    ref::Attention{ac.b, ac.t, ac.hq, ac.hkv, ac.d, one_segment, ac.scale}.forward(
        widen(q), widen(k), widen(v), want_out, want_lse);

    const std::size_t row = static_cast<std::size_t>(ac.hkv * ac.d),
                      qrow = static_cast<std::size_t>(ac.hq * ac.d);
    std::vector<float> kc(static_cast<std::size_t>(ac.b * cap) * row, NAN), vc = kc;
    for (std::int64_t bb = 0; bb < ac.b; ++bb) {
        std::copy_n(k.begin() + bb * ac.t * row, ac.t * row, kc.begin() + bb * cap * row);
        std::copy_n(v.begin() + bb * ac.t * row, ac.t * row, vc.begin() + bb * cap * row);
    }
    const Shape cs{ac.b, cap, ac.hkv, ac.d};
    const Tensor kct = ts.input("k cache", DType::F32, cs, kc).tensor();
    const Tensor vct = ts.input("v cache", DType::F32, cs, vc).tensor();
    std::int64_t past = 0;
    for (std::int64_t tn : chunks) {
        std::vector<float> qn, got_full;
        ref::Vec want;
        for (std::int64_t bb = 0; bb < ac.b; ++bb) {
            const std::size_t first = static_cast<std::size_t>(bb * ac.t + past) * qrow, count = tn * qrow;
            qn.insert(qn.end(), q.begin() + first, q.begin() + first + count);
            got_full.insert(got_full.end(), full_out.begin() + first, full_out.begin() + first + count);
            want.insert(want.end(), want_out.begin() + first, want_out.begin() + first + count);
        }
        const Shape ns{ac.b, tn, ac.hq, ac.d};
        GuardedTensor& out = ts.output_nan(str_cat("decode out @", past), ns);
        ctx.backend.attention_decode({ts.input(str_cat("q @", past), DType::F32, ns, qn).tensor(), kct, vct,
                                      past, ac.scale, out.tensor()});
        const std::vector<float> got = out.floats();
        expect_close(ctx.check, str_cat("decode @", past, " vs attention_forward"), got, got_full, 1e-10);
        expect_close(ctx.check, str_cat("decode @", past, " vs reference"), got, want, 1e-10);
        past += tn;
    }
    ts.check(ctx.check);
}

inline std::vector<Row> attention_rows() {
    std::vector<Row> rows;
    for (std::int64_t d : {2, 16})
        for (bool llama3 : {false, true})
            for (auto [n, h] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {17, 3}, {129, 2}})
                rows.push_back({str_cat("rope/", llama3 ? "llama3" : "default", "/", n, "x", h, "x", d),
                                [=](Context& c) { run_rope(c, n, h, d, llama3); }});
    auto inv_sqrt = [](std::int64_t d) { return 1.0f / std::sqrt(static_cast<float>(d)); };
    std::vector<std::int32_t> two_rows = packed(17, {7, 6});  // then 4 padding
    const std::vector<std::int32_t> second = packed(17, {17});
    two_rows.insert(two_rows.end(), second.begin(), second.end());
    std::vector<std::int32_t> ratio1 = packed(5, {5});
    const std::vector<std::int32_t> padded = packed(5, {2, 1});
    ratio1.insert(ratio1.end(), padded.begin(), padded.end());
    std::vector<std::int32_t> block_edges = packed(65, {64});
    const std::vector<std::int32_t> full_row = packed(65, {65});
    block_edges.insert(block_edges.end(), full_row.begin(), full_row.end());
    const AttentionCase cases[] = {
        {1, 1, 1, 1, 1, {0}, 1.0f},
        {2, 17, 3, 1, 4, two_rows, inv_sqrt(4)},        // GQA 3
        {1, 17, 4, 2, 8, packed(17, {5, 5, 7}), 0.9f},  // GQA 2, a scale other than D^-0.5
        {2, 5, 2, 2, 3, ratio1, inv_sqrt(3)},           // GQA 1, padding
        {1, 129, 2, 1, 4, packed(129, {60, 66}), inv_sqrt(4)},
        {1, 3, 2, 1, 129, packed(3, {3}), inv_sqrt(129)},
        {2, 65, 2, 1, 8, block_edges, inv_sqrt(8)},     // sequences of 64 and 65: one block and a bit
        {1, 200, 4, 2, 8, packed(200, {200}), inv_sqrt(8)},  // a long sequence, four blocks
    };
    AttentionCase large{1, 17, 4, 2, 8, packed(17, {17}), inv_sqrt(8), 60.0f};
    rows.push_back({attention_name("attention", large), [large](Context& c) { run_attention(c, large); }});
    for (const AttentionCase& ac : cases)
        rows.push_back({attention_name("attention", ac), [ac](Context& c) { run_attention(c, ac); }});
    rows.push_back({"attention_decode/B2-T17-Hq4-Hkv2-D8", [=](Context& c) {
                        run_decode(c, {2, 17, 4, 2, 8, {}, inv_sqrt(8)}, {5, 1, 1, 3, 7});
                    }});
    rows.push_back({"attention_decode/B1-T9-Hq3-Hkv1-D129", [=](Context& c) {
                        run_decode(c, {1, 9, 3, 1, 129, {}, inv_sqrt(129)}, {1, 8});
                    }});
    return rows;
}

}  // namespace qls::test::ops
