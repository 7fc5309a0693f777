// Double-precision references for the backend op test, written from the math of each op
// (formats.md §5, §6.3; torch.optim.AdamW), not from the CPU backend's code, and central
// differences to check their gradients against.
//
// N rows, C/in/out features, r LoRA rank, B batch, T tokens, Hq/Hkv heads, D head dim, V vocab.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace qls::test::ops::ref {

using Vec = std::vector<double>;

inline double weighted_sum(const Vec& y, const Vec& w) {
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * w[i];
    return s;
}

// ∂f/∂x_i by central differences in double, step h·max(1, |x_i|): accurate to ~1e-9 relative
// for the smooth functions here, far below fp32 rounding.
inline Vec central_differences(Vec x, const std::function<double(const Vec&)>& f,
                               std::span<const std::size_t> idx, double h = 1e-5) {
    Vec g;
    for (std::size_t i : idx) {
        const double keep = x[i], step = h * std::max(1.0, std::fabs(keep));
        x[i] = keep + step;
        const double up = f(x);
        x[i] = keep - step;
        const double down = f(x);
        x[i] = keep;
        g.push_back((up - down) / (2 * step));
    }
    return g;
}

// ---- linear + LoRA: y = x·Wᵀ + bias + s·((x∘mask)·Aᵀ)·Bᵀ ----
struct Linear {
    std::int64_t n = 0, in = 0, out = 0, rank = 0;
    Vec w;     // (out, in)
    Vec bias;  // (out) or empty
    Vec a, b;  // (r, in), (out, r); empty without LoRA
    Vec mask;  // (n, in) dropout factors, empty for none
    double scaling = 1;

    double m(std::int64_t i) const { return mask.empty() ? 1.0 : mask[i]; }
    // (n, r): (x∘mask)·Aᵀ
    Vec lora_mid(const Vec& x) const {
        Vec h(n * rank, 0.0);
        for (std::int64_t t = 0; t < n; ++t)
            for (std::int64_t r = 0; r < rank; ++r)
                for (std::int64_t i = 0; i < in; ++i)
                    h[t * rank + r] += x[t * in + i] * m(t * in + i) * a[r * in + i];
        return h;
    }
    Vec forward(const Vec& x) const {
        Vec y(n * out, 0.0);
        const Vec h = lora_mid(x);
        for (std::int64_t t = 0; t < n; ++t)
            for (std::int64_t o = 0; o < out; ++o) {
                double s = bias.empty() ? 0.0 : bias[o];
                for (std::int64_t i = 0; i < in; ++i) s += x[t * in + i] * w[o * in + i];
                for (std::int64_t r = 0; r < rank; ++r) s += scaling * h[t * rank + r] * b[o * rank + r];
                y[t * out + o] = s;
            }
        return y;
    }
    struct Grads {
        Vec dx, da, db;
    };
    Grads backward(const Vec& x, const Vec& dy) const {
        Grads g{Vec(n * in, 0.0), Vec(rank * in, 0.0), Vec(out * rank, 0.0)};
        const Vec h = lora_mid(x);
        Vec dh(n * rank, 0.0);  // ∂L/∂h = s·dy·B
        for (std::int64_t t = 0; t < n; ++t)
            for (std::int64_t o = 0; o < out; ++o) {
                const double d = dy[t * out + o];
                for (std::int64_t i = 0; i < in; ++i) g.dx[t * in + i] += d * w[o * in + i];
                for (std::int64_t r = 0; r < rank; ++r) {
                    dh[t * rank + r] += scaling * d * b[o * rank + r];
                    g.db[o * rank + r] += scaling * d * h[t * rank + r];
                }
            }
        for (std::int64_t t = 0; t < n; ++t)
            for (std::int64_t r = 0; r < rank; ++r)
                for (std::int64_t i = 0; i < in; ++i) {
                    const double xm = x[t * in + i] * m(t * in + i);
                    g.da[r * in + i] += dh[t * rank + r] * xm;
                    g.dx[t * in + i] += dh[t * rank + r] * a[r * in + i] * m(t * in + i);
                }
        return g;
    }
};

// ---- RMSNorm: y = w·x·r, r = (mean(x²) + eps)^-½ per row ----
struct RmsNorm {
    std::int64_t n = 0, c = 0;
    Vec w;
    double eps = 1e-6;

    double rstd(const Vec& x, std::int64_t t) const {
        double ss = 0;
        for (std::int64_t i = 0; i < c; ++i) ss += x[t * c + i] * x[t * c + i];
        return 1.0 / std::sqrt(ss / c + eps);
    }
    Vec forward(const Vec& x) const {
        Vec y(x.size());
        for (std::int64_t t = 0; t < n; ++t) {
            const double r = rstd(x, t);
            for (std::int64_t i = 0; i < c; ++i) y[t * c + i] = w[i] * x[t * c + i] * r;
        }
        return y;
    }
    // ∂r/∂x_i = −r³·x_i / C
    Vec backward(const Vec& x, const Vec& dy) const {
        Vec dx(x.size());
        for (std::int64_t t = 0; t < n; ++t) {
            const double r = rstd(x, t);
            double dot = 0;
            for (std::int64_t i = 0; i < c; ++i) dot += dy[t * c + i] * w[i] * x[t * c + i];
            for (std::int64_t i = 0; i < c; ++i)
                dx[t * c + i] = dy[t * c + i] * w[i] * r - dot * r * r * r * x[t * c + i] / c;
        }
        return dx;
    }
};

// ---- RoPE, rotate_half pairs (i, i + D/2) by the table's angle at each row's position ----
inline Vec rope(const Vec& x, std::int64_t n, std::int64_t heads, std::int64_t d,
                const std::vector<std::int32_t>& pos, const Vec& cos, const Vec& sin, bool inverse) {
    const std::int64_t half = d / 2;
    Vec y(x.size());
    for (std::int64_t t = 0; t < n; ++t)
        for (std::int64_t h = 0; h < heads; ++h)
            for (std::int64_t i = 0; i < half; ++i) {
                const std::int64_t e = (t * heads + h) * d + i;
                const double c = cos[pos[t] * half + i], s = (inverse ? -1 : 1) * sin[pos[t] * half + i];
                y[e] = x[e] * c - x[e + half] * s;
                y[e + half] = x[e + half] * c + x[e] * s;
            }
    return y;
}

// ---- causal attention inside packed segments, GQA ----
struct Attention {
    std::int64_t b = 0, t = 0, hq = 0, hkv = 0, d = 0;
    std::vector<std::int32_t> segments;  // (B, T)
    double scale = 1;

    std::int64_t qi(std::int64_t bb, std::int64_t tt, std::int64_t h) const {
        return ((bb * t + tt) * hq + h) * d;
    }
    std::int64_t ki(std::int64_t bb, std::int64_t tt, std::int64_t h) const {
        return ((bb * t + tt) * hkv + h) * d;
    }
    bool sees(std::int64_t bb, std::int64_t query, std::int64_t key) const {
        return key <= query && segments[bb * t + key] == segments[bb * t + query];
    }
    // Probabilities of query (bb, tt, h) over keys 0..tt; lse receives log Σ exp(scores).
    Vec probs(const Vec& q, const Vec& k, std::int64_t bb, std::int64_t tt, std::int64_t h,
              double* lse) const {
        const std::int64_t kvh = h / (hq / hkv);
        Vec s(tt + 1, -INFINITY);
        double m = -INFINITY;
        for (std::int64_t j = 0; j <= tt; ++j) {
            if (!sees(bb, tt, j)) continue;
            double dot = 0;
            for (std::int64_t i = 0; i < d; ++i) dot += q[qi(bb, tt, h) + i] * k[ki(bb, j, kvh) + i];
            s[j] = dot * scale;
            m = std::max(m, s[j]);
        }
        double sum = 0;
        for (double& x : s) sum += (x = std::exp(x - m));
        for (double& x : s) x /= sum;
        if (lse) *lse = m + std::log(sum);
        return s;
    }
    void forward(const Vec& q, const Vec& k, const Vec& v, Vec& out, Vec& lse) const {
        out.assign(q.size(), 0.0);
        lse.assign(b * hq * t, 0.0);
        for (std::int64_t bb = 0; bb < b; ++bb)
            for (std::int64_t h = 0; h < hq; ++h)
                for (std::int64_t tt = 0; tt < t; ++tt) {
                    const Vec p = probs(q, k, bb, tt, h, &lse[(bb * hq + h) * t + tt]);
                    for (std::int64_t j = 0; j <= tt; ++j)
                        for (std::int64_t i = 0; i < d; ++i)
                            out[qi(bb, tt, h) + i] += p[j] * v[ki(bb, j, h / (hq / hkv)) + i];
                }
    }
    // dV += p·dO; dp_j = dO·v_j; ds = p∘(dp − Σ p·dp); dQ += scale·ds·K; dK += scale·dsᵀ·Q
    void backward(const Vec& q, const Vec& k, const Vec& v, const Vec& dout, Vec& dq, Vec& dk,
                  Vec& dv) const {
        dq.assign(q.size(), 0.0);
        dk.assign(k.size(), 0.0);
        dv.assign(v.size(), 0.0);
        for (std::int64_t bb = 0; bb < b; ++bb)
            for (std::int64_t h = 0; h < hq; ++h)
                for (std::int64_t tt = 0; tt < t; ++tt) {
                    const std::int64_t kvh = h / (hq / hkv);
                    const Vec p = probs(q, k, bb, tt, h, nullptr);
                    Vec dp(tt + 1, 0.0);
                    double pdp = 0;
                    for (std::int64_t j = 0; j <= tt; ++j) {
                        for (std::int64_t i = 0; i < d; ++i)
                            dp[j] += dout[qi(bb, tt, h) + i] * v[ki(bb, j, kvh) + i];
                        pdp += p[j] * dp[j];
                    }
                    for (std::int64_t j = 0; j <= tt; ++j) {
                        const double ds = p[j] * (dp[j] - pdp) * scale;
                        for (std::int64_t i = 0; i < d; ++i) {
                            dq[qi(bb, tt, h) + i] += ds * k[ki(bb, j, kvh) + i];
                            dk[ki(bb, j, kvh) + i] += ds * q[qi(bb, tt, h) + i];
                            dv[ki(bb, j, kvh) + i] += p[j] * dout[qi(bb, tt, h) + i];
                        }
                    }
                }
    }
};

// ---- SwiGLU: y = g·σ(g)·u ----
inline double sigmoid(double g) {
    return 1.0 / (1.0 + std::exp(-g));
}
inline Vec swiglu(const Vec& g, const Vec& u) {
    Vec y(g.size());
    for (std::size_t i = 0; i < g.size(); ++i) y[i] = g[i] * sigmoid(g[i]) * u[i];
    return y;
}

// ---- softmax cross-entropy; target −100 is ignored ----
struct CrossEntropy {
    std::int64_t n = 0, v = 0;
    std::vector<std::int32_t> targets;

    double lse(const Vec& z, std::int64_t r) const {
        double m = -INFINITY, s = 0;
        for (std::int64_t i = 0; i < v; ++i) m = std::max(m, z[r * v + i]);
        for (std::int64_t i = 0; i < v; ++i) s += std::exp(z[r * v + i] - m);
        return m + std::log(s);
    }
    Vec losses(const Vec& z) const {
        Vec l(n, 0.0);
        for (std::int64_t r = 0; r < n; ++r)
            if (targets[r] != -100) l[r] = lse(z, r) - z[r * v + targets[r]];
        return l;
    }
    // ∂(scale·Σ losses)/∂z = scale·(softmax − onehot) on trained rows, 0 on ignored ones.
    Vec grad(const Vec& z, double scale) const {
        Vec g(z.size(), 0.0);
        for (std::int64_t r = 0; r < n; ++r) {
            if (targets[r] == -100) continue;
            const double l = lse(z, r);
            for (std::int64_t i = 0; i < v; ++i) g[r * v + i] = scale * std::exp(z[r * v + i] - l);
            g[r * v + targets[r]] -= scale;
        }
        return g;
    }
};

// ---- torch.optim.AdamW (single-tensor), in double ----
struct AdamW {
    Vec p, m, v;
    void step(const Vec& grad, double lr, double beta1, double beta2, double eps, double wd,
              double grad_scale, std::int64_t step) {
        const double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
        const double bc2 = 1 - std::pow(beta2, static_cast<double>(step));
        for (std::size_t i = 0; i < p.size(); ++i) {
            const double g = grad[i] * grad_scale;
            p[i] *= 1 - lr * wd;
            m[i] = beta1 * m[i] + (1 - beta1) * g;
            v[i] = beta2 * v[i] + (1 - beta2) * g * g;
            p[i] -= lr / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + eps);
        }
    }
};

}  // namespace qls::test::ops::ref
