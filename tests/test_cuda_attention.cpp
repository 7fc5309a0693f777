// The CUDA attention (cuda_ops.h: attention_forward/backward/decode) at training sizes, through
// the Backend interface: packed sequences up to N = 4096 tokens (lengths 1, odd, one whole
// 4096-token sequence), GQA groups 1/2/4, head dims from 16 to 256, q|k|v and dq|dk|dv as
// column blocks of stacked rows, every activation dtype, scores small and in the tens. Truth
// is a double-precision host reference; each element's limit is the first-order fp32 error
// bound of its own sums (Higham: a sum of n terms errs by at most n·u·Σ|terms|, u = 2^-24;
// exp of an argument off by δ is off by relative δ), doubled for second-order terms and the
// few-ulp exp/log, plus one rounding of the stored dtype. The backward must also be bitwise
// repeatable (no atomics), and every output is overwritten (they start as NaN).
// Inputs are k/128 with |k| ≤ 255: 8 significant bits, exact in F32, BF16 and F16 alike, so
// one reference serves all three dtypes.
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/backend/buffer.h"
#include "core/backend/cpu/cpu_backend.h"
#include "core/util/half.h"
#include "kernels/cuda_backend.h"
#include "kernels/device_info.h"

using namespace qls;

namespace {

constexpr double kU = 0x1p-24;  // fp32 unit roundoff

// One round-to-nearest-even store errs by at most u_s relative (bf16 keeps 8 significant bits,
// fp16 11) and, for fp16 subnormals, by half their spacing 2^-25 absolute.
double store_roundoff(DType t) {
    return t == DType::BF16 ? 0x1p-8 : t == DType::F16 ? 0x1p-11 : kU;
}
double store_absolute(DType t) {
    return t == DType::F16 ? 0x1p-25 : 0.0;
}

std::vector<float> random_exact(std::size_t n, std::mt19937& rng) {
    std::uniform_int_distribution<int> k(-255, 255);
    std::vector<float> x(n);
    for (float& v : x) v = static_cast<float>(k(rng)) / 128.0f;
    return x;
}

std::vector<std::byte> encode(const std::vector<float>& x, DType t) {
    std::vector<std::byte> out(x.size() * dtype_size(t));
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (t == DType::F32) {
            std::memcpy(out.data() + 4 * i, &x[i], 4);
        } else {
            const std::uint16_t h = t == DType::BF16 ? f32_to_bf16(x[i]) : f32_to_f16(x[i]);
            std::memcpy(out.data() + 2 * i, &h, 2);
        }
    }
    return out;
}

std::vector<double> decode(const std::vector<std::byte>& b, DType t) {
    const std::size_t n = b.size() / dtype_size(t);
    std::vector<double> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (t == DType::F32) {
            float f;
            std::memcpy(&f, b.data() + 4 * i, 4);
            out[i] = f;
        } else {
            std::uint16_t h;
            std::memcpy(&h, b.data() + 2 * i, 2);
            out[i] = t == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
        }
    }
    return out;
}

// The stored value of x in dtype t, as the device rounds it.
std::vector<float> rounded(const std::vector<double>& x, DType t) {
    std::vector<float> f(x.begin(), x.end());
    const std::vector<double> back = decode(encode(f, t), t);
    return {back.begin(), back.end()};
}

// One attention problem on the host: stacked rows q|k|v (N, W = (Hq + 2·Hkv)·D).
struct Problem {
    std::vector<int> lengths;
    std::int64_t hq = 0, hkv = 0, d = 0;
    float scale = 1.0f;
    std::int64_t n = 0, w = 0, max_len = 0;
    std::vector<float> qkv, dout;  // (N, W), (N, Hq, D)

    std::int64_t group() const { return hq / hkv; }
    const float* q(std::int64_t i, std::int64_t h) const { return &qkv[i * w + h * d]; }
    const float* k(std::int64_t i, std::int64_t g) const { return &qkv[i * w + (hq + g) * d]; }
    const float* v(std::int64_t i, std::int64_t g) const { return &qkv[i * w + (hq + hkv + g) * d]; }
};

Problem make_problem(std::vector<int> lengths, int hq, int hkv, int d, float scale, unsigned seed) {
    Problem p;
    p.lengths = std::move(lengths);
    p.hq = hq, p.hkv = hkv, p.d = d, p.scale = scale;
    for (int l : p.lengths) p.n += l, p.max_len = std::max<std::int64_t>(p.max_len, l);
    p.w = (hq + 2 * hkv) * d;
    std::mt19937 rng(seed);
    p.qkv = random_exact(static_cast<std::size_t>(p.n * p.w), rng);
    p.dout = random_exact(static_cast<std::size_t>(p.n * hq * d), rng);
    return p;
}

// out, lse and their error bounds (in units of u = 2^-24, before the factor 2).
struct ForwardRef {
    std::vector<double> out, out_err;  // (N, Hq, D)
    std::vector<double> lse, lse_err;  // (Hq, N)
};

// Query row `q` against keys k(j), values v(j), j < count: the CPU's math in double.
template <typename K, typename V>
void attend_row(const float* q, K k, V v, std::int64_t count, std::int64_t d, double scale, double* out,
                double* out_err, double& lse, double& lse_err) {
    std::vector<double> s(static_cast<std::size_t>(count));
    double m = -INFINITY, sabs = 0;
    for (std::int64_t j = 0; j < count; ++j) {
        double dot = 0, mag = 0;
        for (std::int64_t c = 0; c < d; ++c)
            dot += double(q[c]) * k(j)[c], mag += std::fabs(double(q[c]) * k(j)[c]);
        s[j] = scale * dot;
        m = std::max(m, s[j]);
        sabs = std::max(sabs, std::fabs(scale) * mag);
    }
    double l = 0;
    for (std::int64_t j = 0; j < count; ++j) l += std::exp(s[j] - m);
    lse = m + std::log(l);
    // Scores err by (D+2)·u·sabs each; the normalizer sums `count` terms; m + log l rounds once.
    lse_err = 3 * double(d + 2) * sabs + double(count) + 4 + std::fabs(lse);
    const double p_err = 2 * double(d + 2) * sabs + 2 * double(count) + 8;  // relative, per probability
    for (std::int64_t c = 0; c < d; ++c) out[c] = 0, out_err[c] = 0;
    for (std::int64_t j = 0; j < count; ++j) {
        const double p = std::exp(s[j] - lse);
        for (std::int64_t c = 0; c < d; ++c)
            out[c] += p * v(j)[c], out_err[c] += p * std::fabs(double(v(j)[c]));
    }
    for (std::int64_t c = 0; c < d; ++c) out_err[c] *= p_err + double(count);
}

ForwardRef forward_reference(const Problem& p) {
    ForwardRef r;
    r.out.resize(static_cast<std::size_t>(p.n * p.hq * p.d));
    r.out_err.resize(r.out.size());
    r.lse.resize(static_cast<std::size_t>(p.hq * p.n));
    r.lse_err.resize(r.lse.size());
    std::int64_t begin = 0;
    for (int len : p.lengths) {
        for (std::int64_t i = begin; i < begin + len; ++i)
            for (std::int64_t h = 0; h < p.hq; ++h) {
                const std::int64_t g = h / p.group(), o = (i * p.hq + h) * p.d;
                attend_row(
                    p.q(i, h), [&](std::int64_t j) { return p.k(begin + j, g); },
                    [&](std::int64_t j) { return p.v(begin + j, g); }, i - begin + 1, p.d, p.scale, &r.out[o],
                    &r.out_err[o], r.lse[h * p.n + i], r.lse_err[h * p.n + i]);
            }
        begin += len;
    }
    return r;
}

// dq|dk|dv in the stacked (N, W) layout, with two error parts (units of u): e32 from fp32
// arithmetic, eo from the rounding of the stored O (coefficient of the dtype's u_s), since the
// reference reads the exact O and the device the stored one.
struct BackwardRef {
    std::vector<double> g, e32, eo;
};

BackwardRef backward_reference(const Problem& p, const ForwardRef& f, const std::vector<float>& lse) {
    const std::int64_t d = p.d, w = p.w;
    BackwardRef r;
    r.g.assign(static_cast<std::size_t>(p.n * w), 0.0);
    r.e32 = r.g, r.eo = r.g;
    const double sc = p.scale, asc = std::fabs(sc);
    std::int64_t begin = 0;
    for (int len : p.lengths) {
        const double nk = double(p.group() * len + 2);  // terms of one dK/dV sum, bounded
        for (std::int64_t h = 0; h < p.hq; ++h) {
            const std::int64_t g = h / p.group();
            for (std::int64_t i = begin; i < begin + len; ++i) {
                const float* q = p.q(i, h);
                const float* go = &p.dout[(i * p.hq + h) * d];
                const double* o = &f.out[(i * p.hq + h) * d];
                double delta = 0, dmag = 0;
                for (std::int64_t c = 0; c < d; ++c) delta += go[c] * o[c], dmag += std::fabs(go[c] * o[c]);
                const double lse_i = lse[h * p.n + i];
                double* dq = &r.g[i * w + h * d];
                double* dq32 = &r.e32[i * w + h * d];
                double* dqo = &r.eo[i * w + h * d];
                for (std::int64_t j = begin; j <= i; ++j) {
                    const float* k = p.k(j, g);
                    const float* v = p.v(j, g);
                    double dot = 0, sabs = 0, dp = 0, dpmag = 0;
                    for (std::int64_t c = 0; c < d; ++c) {
                        dot += double(q[c]) * k[c], sabs += std::fabs(double(q[c]) * k[c]);
                        dp += double(go[c]) * v[c], dpmag += std::fabs(double(go[c]) * v[c]);
                    }
                    const double pr = std::exp(sc * dot - lse_i);
                    const double pr_err = pr * (double(d + 2) * asc * sabs + 4);
                    const double ds = pr * (dp - delta);
                    const double ds32 = pr_err * std::fabs(dp - delta) + pr * double(d + 2) * (dpmag + dmag) +
                                        2 * std::fabs(ds);
                    const double dso = pr * dmag;  // Δ from the stored O
                    double* dk = &r.g[j * w + (p.hq + g) * d];
                    double* dv = &r.g[j * w + (p.hq + p.hkv + g) * d];
                    double* dk32 = &r.e32[j * w + (p.hq + g) * d];
                    double* dv32 = &r.e32[j * w + (p.hq + p.hkv + g) * d];
                    double* dko = &r.eo[j * w + (p.hq + g) * d];
                    for (std::int64_t c = 0; c < d; ++c) {
                        const double ak = std::fabs(double(k[c])), aq = std::fabs(double(q[c]));
                        dq[c] += sc * ds * k[c];
                        dq32[c] += asc * (ds32 * ak + std::fabs(ds) * ak * double(len + 2));
                        dqo[c] += asc * dso * ak;
                        dk[c] += sc * ds * q[c];
                        dk32[c] += asc * (ds32 * aq + std::fabs(ds) * aq * nk);
                        dko[c] += asc * dso * aq;
                        dv[c] += pr * go[c];
                        dv32[c] += (pr_err + pr * nk) * std::fabs(double(go[c]));
                    }
                }
            }
        }
        begin += len;
    }
    return r;
}

// Counts elements outside |got - want| ≤ 2·err·(1 + 2u_s) + u_s·|want| + abs_s; names the worst.
struct Verdict {
    std::int64_t bad = 0;
    double worst = 0;  // largest |got - want| / limit
    std::string first;
    void check(const char* what, std::size_t i, double got, double want, double err, DType t) {
        const double us = store_roundoff(t);
        const double limit = 2 * err * (1 + 2 * us) + us * std::fabs(want) + store_absolute(t);
        const double ratio = got == want ? 0.0 : std::fabs(got - want) / limit;  // exact zeros have limit 0
        if (!(ratio <= 1)) {
            if (bad++ == 0)
                first = std::string(what) + "[" + std::to_string(i) + "] = " + std::to_string(got) +
                        ", want " + std::to_string(want) + " within " + std::to_string(limit);
        }
        if (ratio > worst || std::isnan(ratio)) worst = ratio;
    }
};

Buffer upload_bytes(Backend& be, const std::vector<std::byte>& bytes, const char* what) {
    Buffer b = be.allocate(std::max<std::size_t>(bytes.size(), 1), Usage::Activations, what);
    if (!bytes.empty()) be.copy_from_host(b.view(0, DType::U8, {std::int64_t(bytes.size())}), bytes);
    return b;
}

std::vector<std::byte> download_bytes(Backend& be, const Buffer& b, std::size_t bytes) {
    std::vector<std::byte> host(bytes);
    be.copy_to_host(b.view(0, DType::U8, {std::int64_t(bytes)}), host);
    return host;
}

// The problem in one backend's memory, every output NaN until written.
struct DeviceProblem {
    Backend& be;
    const Problem& p;
    DType t;
    Buffer qkv, out, lse, cu, dout, dqkv, ws;

    Buffer upload(const std::vector<std::byte>& bytes, const char* what) {
        return upload_bytes(be, bytes, what);
    }
    std::vector<std::byte> nan_bytes(std::size_t count) const {
        return encode(std::vector<float>(count, std::numeric_limits<float>::quiet_NaN()), t);
    }
    // Column block [h0, h0 + heads) of D-wide heads of the stacked (N, W) rows in b.
    Tensor block(const Buffer& b, std::int64_t h0, std::int64_t heads) const {
        return Tensor{b.data() + h0 * p.d * std::int64_t(dtype_size(t)), t, {p.n, heads, p.d}, p.w};
    }
    std::vector<std::byte> download(const Buffer& b, std::size_t bytes) {
        return download_bytes(be, b, bytes);
    }

    DeviceProblem(Backend& backend, const Problem& prob, DType dtype) : be(backend), p(prob), t(dtype) {
        qkv = upload(encode(p.qkv, t), "qkv");
        out = upload(nan_bytes(static_cast<std::size_t>(p.n * p.hq * p.d)), "out");
        lse =
            upload(encode(std::vector<float>(static_cast<std::size_t>(p.hq * p.n), NAN), DType::F32), "lse");
        std::vector<std::int32_t> offsets{0};
        for (int l : p.lengths) offsets.push_back(offsets.back() + l);
        std::vector<std::byte> cu_bytes(offsets.size() * 4);
        std::memcpy(cu_bytes.data(), offsets.data(), cu_bytes.size());
        cu = upload(cu_bytes, "cu_seqlens");
        dout = upload(encode(p.dout, t), "dout");
        dqkv = upload(nan_bytes(static_cast<std::size_t>(p.n * p.w)), "dq|dk|dv");
        const std::size_t wsb = be.attention_workspace_bytes({p.n, p.max_len, p.hq, p.hkv, p.d});
        ws = upload(std::vector<std::byte>(wsb, std::byte{0xff}), "workspace");
    }
    Tensor cu_tensor() const { return Tensor{cu.data(), DType::I32, {std::int64_t(p.lengths.size() + 1)}}; }
    Tensor out_tensor() const { return Tensor{out.data(), t, {p.n, p.hq, p.d}}; }
    Tensor lse_tensor() const { return Tensor{lse.data(), DType::F32, {p.hq, p.n}}; }
    Tensor ws_tensor() const { return Tensor{ws.data(), DType::U8, {std::int64_t(ws.bytes())}}; }

    void forward() {
        be.attention_forward({block(qkv, 0, p.hq), block(qkv, p.hq, p.hkv), block(qkv, p.hq + p.hkv, p.hkv),
                              cu_tensor(), p.max_len, p.scale, out_tensor(), lse_tensor(), ws_tensor()});
    }
    // Backward from the given stored O and lse; returns dq|dk|dv's bytes.
    std::vector<std::byte> backward() {
        be.copy_from_host(dqkv.view(0, DType::U8, {std::int64_t(dqkv.bytes())}),
                          nan_bytes(static_cast<std::size_t>(p.n * p.w)));
        be.attention_backward({block(qkv, 0, p.hq), block(qkv, p.hq, p.hkv), block(qkv, p.hq + p.hkv, p.hkv),
                               cu_tensor(), p.max_len, p.scale, out_tensor(), lse_tensor(),
                               Tensor{dout.data(), t, {p.n, p.hq, p.d}}, block(dqkv, 0, p.hq),
                               block(dqkv, p.hq, p.hkv), block(dqkv, p.hq + p.hkv, p.hkv), true,
                               ws_tensor()});
        return download(dqkv, static_cast<std::size_t>(p.n * p.w) * dtype_size(t));
    }
};

void check_backend(Backend& be, const Problem& p, const ForwardRef& f, const std::vector<float>& lse_f,
                   const BackwardRef& b) {
    for (DType t : {DType::F32, DType::BF16, DType::F16}) {
        DeviceProblem dev(be, p, t);
        dev.forward();
        const std::vector<double> out = decode(dev.download(dev.out, f.out.size() * dtype_size(t)), t);
        const std::vector<double> lse = decode(dev.download(dev.lse, f.lse.size() * 4), DType::F32);
        Verdict fwd;
        for (std::size_t i = 0; i < out.size(); ++i)
            fwd.check("out", i, out[i], f.out[i], f.out_err[i] * kU, t);
        for (std::size_t i = 0; i < lse.size(); ++i)
            fwd.check("lse", i, lse[i], f.lse[i], f.lse_err[i] * kU, DType::F32);
        qInfo("%s %s forward: worst |error|/limit %.3g", be.name().c_str(), dtype_name(t).data(), fwd.worst);
        QVERIFY2(fwd.bad == 0, (be.name() + " " + std::string(dtype_name(t)) + ": " +
                                std::to_string(fwd.bad) + " outside the limit, first " + fwd.first)
                                   .c_str());

        // The backward reads the reference's O stored in t and its lse in fp32.
        dev.be.copy_from_host(dev.out_tensor(), encode(rounded(f.out, t), t));
        dev.be.copy_from_host(dev.lse_tensor(), encode(lse_f, DType::F32));
        const std::vector<std::byte> first = dev.backward();
        const std::vector<std::byte> again = dev.backward();
        QVERIFY2(first == again, "the backward is not bitwise repeatable");
        const std::vector<double> g = decode(first, t);
        Verdict bwd;
        for (std::size_t i = 0; i < g.size(); ++i)
            bwd.check("dq|dk|dv", i, g[i], b.g[i], b.e32[i] * kU + b.eo[i] * store_roundoff(t), t);
        qInfo("%s %s backward: worst |error|/limit %.3g", be.name().c_str(), dtype_name(t).data(), bwd.worst);
        QVERIFY2(bwd.bad == 0, (be.name() + " " + std::string(dtype_name(t)) + ": " +
                                std::to_string(bwd.bad) + " outside the limit, first " + bwd.first)
                                   .c_str());
    }
}

// Decoding: B sequences × Tn new queries against a (B, P, Hkv, D) cache whose rows from
// past + Tn on are NaN, so reading one shows in the output.
struct DecodeCase {
    int b, tn, cap, past, hq, hkv, d;
};

void check_decode(Backend& be, const DecodeCase& c) {
    std::mt19937 rng(0xdec0u + unsigned(c.d));
    const std::int64_t qn = std::int64_t(c.b) * c.tn * c.hq * c.d,
                       kn = std::int64_t(c.b) * c.cap * c.hkv * c.d;
    const std::vector<float> q = random_exact(std::size_t(qn), rng);
    std::vector<float> kc = random_exact(std::size_t(kn), rng), vc = random_exact(std::size_t(kn), rng);
    for (std::int64_t i = 0; i < kn; ++i)
        if ((i / (std::int64_t(c.hkv) * c.d)) % c.cap >= c.past + c.tn)
            kc[std::size_t(i)] = vc[std::size_t(i)] = std::numeric_limits<float>::quiet_NaN();
    const float scale = 1.0f / std::sqrt(float(c.d));
    std::vector<double> ref(static_cast<std::size_t>(qn)), err(static_cast<std::size_t>(qn));
    for (int b = 0; b < c.b; ++b)
        for (int t = 0; t < c.tn; ++t)
            for (int h = 0; h < c.hq; ++h) {
                const std::int64_t o = ((std::int64_t(b) * c.tn + t) * c.hq + h) * c.d,
                                   g = h / (c.hq / c.hkv);
                const auto row = [&](const std::vector<float>& cache) {
                    return [&cache, &c, b, g](std::int64_t j) {
                        return &cache[std::size_t(((b * c.cap + j) * c.hkv + g) * c.d)];
                    };
                };
                double lse = 0, lse_err = 0;
                attend_row(&q[std::size_t(o)], row(kc), row(vc), c.past + t + 1, c.d, scale,
                           &ref[std::size_t(o)], &err[std::size_t(o)], lse, lse_err);
            }
    for (DType t : {DType::F32, DType::BF16, DType::F16}) {
        const Buffer qb = upload_bytes(be, encode(q, t), "q"),
                     kb = upload_bytes(be, encode(kc, t), "k cache"),
                     vb = upload_bytes(be, encode(vc, t), "v cache"),
                     ob = upload_bytes(be, encode(std::vector<float>(std::size_t(qn), NAN), t), "out");
        const Shape qs{c.b, c.tn, c.hq, c.d}, ks{c.b, c.cap, c.hkv, c.d};
        be.attention_decode({Tensor{qb.data(), t, qs}, Tensor{kb.data(), t, ks}, Tensor{vb.data(), t, ks},
                             c.past, scale, Tensor{ob.data(), t, qs}});
        const std::vector<double> out = decode(download_bytes(be, ob, std::size_t(qn) * dtype_size(t)), t);
        Verdict v;
        for (std::size_t i = 0; i < out.size(); ++i) v.check("out", i, out[i], ref[i], err[i] * kU, t);
        qInfo("%s %s decode: worst |error|/limit %.3g", be.name().c_str(), dtype_name(t).data(), v.worst);
        QVERIFY2(v.bad == 0, (be.name() + " " + std::string(dtype_name(t)) + ": " + std::to_string(v.bad) +
                              " outside the limit, first " + v.first)
                                 .c_str());
    }
}

}  // namespace

class TestCudaAttention : public QObject {
    Q_OBJECT
private slots:
    void matchesTheReference_data() {
        QTest::addColumn<std::vector<int>>("lengths");
        QTest::addColumn<int>("hq");
        QTest::addColumn<int>("hkv");
        QTest::addColumn<int>("d");
        QTest::addColumn<float>("scale");
        QTest::newRow("4096 tokens in 5 sequences, GQA 4, D 32")
            << std::vector<int>{1, 7, 300, 1740, 2048} << 4 << 1 << 32 << 1.0f / std::sqrt(32.0f);
        QTest::newRow("one 4096-token sequence, D 16") << std::vector<int>{4096} << 2 << 2 << 16 << 0.25f;
        QTest::newRow("odd lengths, GQA 2, D 80")
            << std::vector<int>{3, 1, 257, 129, 1, 64} << 4 << 2 << 80 << 1.0f / std::sqrt(80.0f);
        QTest::newRow("D 128, GQA 2")
            << std::vector<int>{300, 33, 1} << 2 << 1 << 128 << 1.0f / std::sqrt(128.0f);
        QTest::newRow("D 256, GQA 1") << std::vector<int>{1, 190, 65} << 2 << 2 << 256 << 0.0625f;
        QTest::newRow("scores in the tens, D 64") << std::vector<int>{500, 2, 97} << 4 << 2 << 64 << 1.0f;
    }

    void matchesTheReference() {
        QFETCH(std::vector<int>, lengths);
        QFETCH(int, hq);
        QFETCH(int, hkv);
        QFETCH(int, d);
        QFETCH(float, scale);
        const Problem p = make_problem(lengths, hq, hkv, d, scale, 0xa7u + unsigned(d));
        const ForwardRef f = forward_reference(p);
        const std::vector<float> lse_f(f.lse.begin(), f.lse.end());
        const BackwardRef b = backward_reference(p, f, lse_f);
        // The CPU backend passes too: the reference and its limits are sound without a GPU.
        CpuBackend cpu;
        check_backend(cpu, p, f, lse_f, b);
        if (QTest::currentTestFailed()) return;
        if (!cuda::device_available()) QSKIP("no CUDA device");
        cuda::CudaBackend gpu(0);
        check_backend(gpu, p, f, lse_f, b);
    }
    void decodeMatchesTheReference_data() {
        QTest::addColumn<int>("b");
        QTest::addColumn<int>("tn");
        QTest::addColumn<int>("cap");
        QTest::addColumn<int>("past");
        QTest::addColumn<int>("hq");
        QTest::addColumn<int>("hkv");
        QTest::addColumn<int>("d");
        QTest::newRow("3 sequences, 1 token after 600, GQA 4, D 128")
            << 3 << 1 << 700 << 600 << 4 << 1 << 128;
        QTest::newRow("2 prompts of 5 from empty, D 96") << 2 << 5 << 40 << 0 << 2 << 2 << 96;
        QTest::newRow("3 tokens after 257, GQA 4, D 64") << 1 << 3 << 300 << 257 << 8 << 2 << 64;
    }

    void decodeMatchesTheReference() {
        QFETCH(int, b);
        QFETCH(int, tn);
        QFETCH(int, cap);
        QFETCH(int, past);
        QFETCH(int, hq);
        QFETCH(int, hkv);
        QFETCH(int, d);
        const DecodeCase c{b, tn, cap, past, hq, hkv, d};
        CpuBackend cpu;
        check_decode(cpu, c);
        if (QTest::currentTestFailed()) return;
        if (!cuda::device_available()) QSKIP("no CUDA device");
        cuda::CudaBackend gpu(0);
        check_decode(gpu, c);
    }
};

QTEST_GUILESS_MAIN(TestCudaAttention)
#include "test_cuda_attention.moc"
