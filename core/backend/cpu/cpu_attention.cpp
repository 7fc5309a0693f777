// Causal scaled-dot-product attention with GQA over packed sequences (formats.md §6.3, HF
// eager_attention_forward with repeat_kv; FlashAttention-2's varlen layout and its backward
// equations): query head h reads KV head h / (Hq / Hkv). Scores and softmax in fp32; the
// log-sum-exp per query is saved so backward recomputes the probabilities.
//
// Work goes in blocks of kBlockRows queries of one sequence and head: the block's scores
// against the keys it can see are one GEMM, the output another, so no more than
// kBlockRows × max_seqlen scores exist per thread (the workspace), never T × T.
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "core/backend/cpu/cpu_exp.h"
#include "core/backend/cpu/cpu_ops.h"
#include "core/util/parallel.h"

namespace qls::cpu {

namespace {

constexpr std::int64_t kBlockRows = 64;

// Per thread: the block's scores / probabilities and, in backward, their gradient.
std::size_t slot_floats(std::int64_t max_seqlen) {
    return static_cast<std::size_t>(2 * kBlockRows * max_seqlen);
}

// Row-major C = alpha·op(A)·op(B) + beta·C on the calling thread (OpenBLAS is single-threaded
// here, cpu_backend.cpp; the blocks are spread over our threads instead).
void gemm1(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
           std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
                static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

struct Layout {
    std::int64_t n, hq, hkv, d, group;
    const std::int32_t* cu;
    std::int64_t sequences;
    explicit Layout(const Tensor& q, const Tensor& k, const Tensor& cu_seqlens)
        : n(q.dim(0)), hq(q.dim(1)), hkv(k.dim(1)), d(q.dim(2)), group(q.dim(1) / k.dim(1)),
          cu(cu_seqlens.ptr<const std::int32_t>()), sequences(cu_seqlens.numel() - 1) {}
};

// Head h of token t in a (N, H, D) tensor whose rows may be strided.
template <typename T>
T* at(const Tensor& x, std::int64_t t, std::int64_t h, std::int64_t d) {
    return x.ptr<T>() + t * x.row_pitch() + h * d;
}

// Runs task(index, slot) for index in [0, count) on up to one thread per workspace slot, each
// with its own slot; tasks are taken in order from a shared counter (causal blocks differ in
// cost). The workspace was sized for the thread count when the model was planned.
template <typename Task>
void run_tasks(std::int64_t count, const Tensor& workspace, std::size_t slot_size, const Task& task) {
    const std::size_t slots = workspace.bytes() / (slot_size * sizeof(float));
    QLS_ASSERT(slots >= 1, "attention: workspace of ", workspace.bytes(), " bytes holds no block of ",
               slot_size * sizeof(float));
    std::atomic<std::int64_t> next{0};
    const std::size_t threads = std::min({slots, num_threads(), static_cast<std::size_t>(std::max<std::int64_t>(1, count))});
    float* base = workspace.ptr<float>();
    parallel_for(threads, 1, [&](std::size_t first, std::size_t last) {
        for (std::size_t slot = first; slot < last; ++slot)
            for (std::int64_t i = next++; i < count; i = next++) task(i, base + slot * slot_size);
    });
}

// Scaled scores of queries [r0, r1) of a sequence (absolute first token `base`) against its
// keys [0, r1), in place turned into probabilities exp(s - lse); keys after each query get 0.
// With lse == nullptr the row's log-sum-exp is computed and stored in lse_out.
void probabilities(const Layout& l, const Tensor& q, const Tensor& k, float scale, std::int64_t base,
                   std::int64_t h, std::int64_t r0, std::int64_t r1, float* p, const float* lse, float* lse_out) {
    const std::int64_t rows = r1 - r0, keys = r1, kvh = h / l.group;
    gemm1(false, true, rows, keys, l.d, scale, at<const float>(q, base + r0, h, l.d), q.row_pitch(),
          at<const float>(k, base, kvh, l.d), k.row_pitch(), 0.0f, p, keys);
    for (std::int64_t i = 0; i < rows; ++i) {
        float* row = p + i * keys;
        const std::int64_t visible = r0 + i + 1;  // causal: keys 0..r0+i
        std::fill(row + visible, row + keys, 0.0f);
        if (lse) {
            exp_shifted(row, visible, lse[i]);
            continue;
        }
        const float m = *std::max_element(row, row + visible);
        exp_shifted(row, visible, m);
        double sum = 0;
        for (std::int64_t j = 0; j < visible; ++j) sum += row[j];
        const auto inv = static_cast<float>(1.0 / sum);
        for (std::int64_t j = 0; j < visible; ++j) row[j] *= inv;
        lse_out[i] = m + static_cast<float>(std::log(sum));
    }
}

}  // namespace

std::size_t attention_workspace_bytes(const AttentionShape& s) {
    return num_threads() * slot_floats(s.max_seqlen) * sizeof(float);
}

void attention_forward(const AttentionForwardArgs& a) {
    const Layout l(a.q, a.k, a.cu_seqlens);
    // Tasks: (sequence, head, block of query rows), in that order.
    std::vector<std::int64_t> first_task(static_cast<std::size_t>(l.sequences) + 1, 0);
    for (std::int64_t s = 0; s < l.sequences; ++s) {
        const std::int64_t len = l.cu[s + 1] - l.cu[s];
        first_task[s + 1] = first_task[s] + l.hq * ((len + kBlockRows - 1) / kBlockRows);
    }
    const std::size_t slot = slot_floats(a.max_seqlen);
    run_tasks(first_task.back(), a.workspace, slot, [&](std::int64_t task, float* p) {
        const auto s = std::upper_bound(first_task.begin(), first_task.end(), task) - first_task.begin() - 1;
        const std::int64_t base = l.cu[s], len = l.cu[s + 1] - base;
        const std::int64_t blocks = (len + kBlockRows - 1) / kBlockRows, local = task - first_task[s];
        const std::int64_t h = local / blocks, r0 = (local % blocks) * kBlockRows;
        const std::int64_t r1 = std::min(len, r0 + kBlockRows);
        float lse[kBlockRows];
        probabilities(l, a.q, a.k, a.scale, base, h, r0, r1, p, nullptr, lse);
        gemm1(false, false, r1 - r0, l.d, r1, 1.0f, p, r1, at<const float>(a.v, base, h / l.group, l.d),
              a.v.row_pitch(), 0.0f, at<float>(a.out, base + r0, h, l.d), a.out.row_pitch());
        std::copy(lse, lse + (r1 - r0), a.lse.ptr<float>() + h * l.n + base + r0);
    });
}

// With P = softmax(S): dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ∘ (dP − rowsum(dO ∘ O)),
// dQ = scale·dS·K, dK = scale·dSᵀ·Q. One task per (sequence, KV head): the query heads that
// share a KV head add into its dK/dV from one thread in a fixed order, so the result is the
// same on any number of threads (deterministic whatever the flag asks).
void attention_backward(const AttentionBackwardArgs& a) {
    const Layout l(a.q, a.k, a.cu_seqlens);
    const std::size_t slot = slot_floats(a.max_seqlen);
    run_tasks(l.sequences * l.hkv, a.workspace, slot, [&](std::int64_t task, float* p) {
        const std::int64_t s = task / l.hkv, kvh = task % l.hkv;
        const std::int64_t base = l.cu[s], len = l.cu[s + 1] - base;
        float* dk = at<float>(a.dk, base, kvh, l.d);
        float* dv = at<float>(a.dv, base, kvh, l.d);
        const std::int64_t dkp = a.dk.row_pitch(), dvp = a.dv.row_pitch();
        for (std::int64_t t = 0; t < len; ++t) {
            std::fill(dk + t * dkp, dk + t * dkp + l.d, 0.0f);
            std::fill(dv + t * dvp, dv + t * dvp + l.d, 0.0f);
        }
        const float* k = at<const float>(a.k, base, kvh, l.d);
        const float* v = at<const float>(a.v, base, kvh, l.d);
        const std::int64_t qp = a.q.row_pitch(), op = a.out.row_pitch(), dop = a.dout.row_pitch();
        float* dp = p + kBlockRows * a.max_seqlen;
        for (std::int64_t h = kvh * l.group; h < (kvh + 1) * l.group; ++h)
            for (std::int64_t r0 = 0; r0 < len; r0 += kBlockRows) {
                const std::int64_t r1 = std::min(len, r0 + kBlockRows), rows = r1 - r0;
                const float* q = at<const float>(a.q, base + r0, h, l.d);
                const float* out = at<const float>(a.out, base + r0, h, l.d);
                const float* dout = at<const float>(a.dout, base + r0, h, l.d);
                probabilities(l, a.q, a.k, a.scale, base, h, r0, r1, p,
                              a.lse.ptr<const float>() + h * l.n + base + r0, nullptr);
                gemm1(false, true, rows, r1, l.d, 1.0f, dout, dop, v, a.v.row_pitch(), 0.0f, dp, r1);
                for (std::int64_t i = 0; i < rows; ++i) {
                    float delta = 0;
                    for (std::int64_t e = 0; e < l.d; ++e) delta += dout[i * dop + e] * out[i * op + e];
                    float* dsi = dp + i * r1;
                    const float* pi = p + i * r1;
                    for (std::int64_t j = 0; j < r1; ++j) dsi[j] = pi[j] * (dsi[j] - delta);
                }
                gemm1(false, false, rows, l.d, r1, a.scale, dp, r1, k, a.k.row_pitch(), 0.0f,
                      at<float>(a.dq, base + r0, h, l.d), a.dq.row_pitch());
                gemm1(true, false, r1, l.d, rows, a.scale, dp, r1, q, qp, 1.0f, dk, dkp);
                gemm1(true, false, r1, l.d, rows, 1.0f, p, r1, dout, dop, 1.0f, dv, dvp);
            }
    });
}

}  // namespace qls::cpu
