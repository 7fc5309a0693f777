// The arithmetic of the fused causal attention (kernels/flash_attention.cu), shared with the
// CPU tests (tests/test_kernel_cores_flash_attention.cpp), which replay the kernels' loops on
// the host through these functions and compare with the CPU backend (cpu_attention.cpp).
//
// Work: a "sequence" s has nq queries at rows q_row0.. and its keys at rows k_row0.., query t
// sitting at key position offset + t and seeing keys 0..offset + t (causal). Packed training
// sequences have k_row0 = q_row0 = cu[s] and offset 0; decoding against a KV cache has q_row0 =
// s·Tn, k_row0 = s·P and offset = past. One score is scale · Σ_e q[e]·k[e] summed over e in
// order, like the CPU's GEMM row; probabilities are exp(score − m) with an online max m, and
// the log-sum-exp m + log(l) is saved so the backward recomputes exp(score − lse).
// D head dim (≤ kMaxHeadDim); a lane of a warp holds elements e = lane + 32·c of a row.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/math/float_ops.h"
#include "kernels/math/host_device.h"

namespace qls::kmath::attn {

constexpr int kWarp = 32;
constexpr int kWarps = 4;  // warps per CTA in every attention kernel
constexpr int kMaxHeadDim = 256;
// Dynamic shared memory an attention CTA may take: 48 KiB is what a CTA gets without opting in
// (every GPU since Volta), static and dynamic together; 256 bytes stay for the kernels' static
// shared memory (16 today: the block lookup).
constexpr std::int64_t kSharedBudget = 48 * 1024 - 256;

// Registers per lane for a row of D elements: 2, 4 or 8 (the kernels are instantiated for
// these), 0 when D is not supported.
QLS_HD int chunks_for(std::int64_t d) {
    if (d <= 0 || d > kMaxHeadDim) return 0;
    return d <= 64 ? 2 : d <= 128 ? 4 : 8;
}

struct SeqBounds {
    std::int64_t q_row0 = 0, nq = 0, k_row0 = 0, offset = 0;
};

// Packed variable-length sequences: sequence s is rows [cu[s], cu[s + 1]).
QLS_HD SeqBounds varlen_bounds(const std::int32_t* cu, std::int64_t s) {
    return {cu[s], cu[s + 1] - cu[s], cu[s], 0};
}

// Decoding: batch row s has tn new queries after `past` cached positions of a cache of `cap`.
QLS_HD SeqBounds decode_bounds(std::int64_t s, std::int64_t tn, std::int64_t cap, std::int64_t past) {
    return {s * tn, tn, s * cap, past};
}

// CTAs over blocks of `rows` queries of every sequence in order: an upper bound on the grid
// (Σ ceil(nq / rows) ≤ N / rows + S), the CTAs past the real count doing nothing.
QLS_HD std::int64_t block_grid(std::int64_t total_queries, std::int64_t sequences, std::int64_t rows) {
    return total_queries / rows + sequences + 1;
}

// Which sequence and first query (within it) block b is; false when b is past the last block.
// A scan over the sequences: S is the micro-batch's sequence count, and one thread does it.
template <class Bounds>
QLS_HD bool find_block(const Bounds& bounds, std::int64_t sequences, std::int64_t b, std::int64_t rows,
                       std::int64_t& seq, std::int64_t& q0) {
    for (std::int64_t s = 0; s < sequences; ++s) {
        const std::int64_t blocks = (bounds(s).nq + rows - 1) / rows;
        if (b < blocks) {
            seq = s;
            q0 = b * rows;
            return true;
        }
        b -= blocks;
    }
    return false;
}

// ---- launch plans (shared memory in floats; rows padded by one so lanes reading different
// rows at the same column fall in different banks) ----

struct ForwardPlan {
    int chunks = 0;        // registers per lane per row (2, 4, 8)
    int rows_per_warp = 0;
    int keys = 0;          // keys per shared tile
    std::int64_t shared_floats = 0;
    QLS_HD int rows() const { return rows_per_warp * kWarps; }
};

// Forward and dQ: each warp takes rows_per_warp query rows; a tile of `keys` keys (K and V, and
// for dQ the rows' dO) sits in shared memory; lane j scores key j of the tile.
QLS_HD ForwardPlan forward_plan(std::int64_t d, bool with_dout) {
    ForwardPlan p;
    p.chunks = chunks_for(d);
    if (p.chunks == 0) return p;
    p.rows_per_warp = d <= 128 ? 4 : 2;
    for (int keys = kWarp; keys >= 4; keys /= 2) {
        const std::int64_t floats =
            std::int64_t(p.rows()) * d * (with_dout ? 2 : 1) + 2 * std::int64_t(keys) * (d + 1);
        if (floats * 4 <= kSharedBudget) {
            p.keys = keys;
            p.shared_floats = floats;
            return p;
        }
    }
    p.chunks = 0;  // does not fit: reported as unsupported
    return p;
}

struct KeyBlockPlan {
    int chunks = 0;
    int keys_per_warp = 0;
    int query_tile = 0;  // query rows per shared tile: lane i takes row i
    std::int64_t shared_floats = 0;
    QLS_HD int keys() const { return keys_per_warp * kWarps; }
};

// dK/dV: a CTA owns keys() keys of one KV head; every warp keys_per_warp of them; tiles of
// query_tile query rows (q and dO padded, lse and Δ) stream through shared memory.
QLS_HD KeyBlockPlan key_block_plan(std::int64_t d) {
    KeyBlockPlan p;
    p.chunks = chunks_for(d);
    if (p.chunks == 0) return p;
    for (int tile = kWarp; tile >= 8; tile /= 2)
        for (int kpw = 8; kpw >= 1; kpw /= 2) {
            const std::int64_t floats = 2 * std::int64_t(tile) * (d + 1) + 2 * std::int64_t(tile) +
                                        2 * std::int64_t(kpw) * kWarps * (d + 1);
            if (floats * 4 <= kSharedBudget && kpw * p.chunks <= 16) {  // the kernel's dK, dV registers
                p.keys_per_warp = kpw;
                p.query_tile = tile;
                p.shared_floats = floats;
                return p;
            }
        }
    p.chunks = 0;
    return p;
}

// ---- arithmetic ----

// scale · Σ_e a[e]·b[e], e = 0..d-1 in order (products and sums rounded one by one, as the CPU's
// GEMM row does them; a GEMM may group differently, which the tests' tolerance allows).
QLS_HD float scaled_dot(const float* a, const float* b, std::int64_t d, float scale) {
    float s = 0.0f;
    for (std::int64_t e = 0; e < d; ++e) s = add(s, mul(a[e], b[e]));
    return mul(scale, s);
}

// The online softmax of one query row across key tiles: the running max m, the running sum l of
// exp(score − m), and the factor that rescales what was accumulated with the old max.
struct OnlineRow {
    float m, l;
};

QLS_HD OnlineRow online_start() { return {-infinity(), 0.0f}; }

// The new max after a tile whose largest valid score is tile_max (−inf: no valid key).
QLS_HD float online_max(const OnlineRow& r, float tile_max) { return r.m > tile_max ? r.m : tile_max; }

// exp(old max − new max): 0 before the first valid key (l and the accumulator are 0 then).
QLS_HD float online_rescale(const OnlineRow& r, float new_max) {
    return r.m == -infinity() ? 0.0f : expf(r.m - new_max);
}

// p = exp(score − m) for a valid key, 0 for a masked one.
QLS_HD float probability(float score, float m, bool valid) { return valid ? expf(score - m) : 0.0f; }

// l after the tile: l·rescale + Σ p (tile_sum, reduced across the warp).
QLS_HD OnlineRow online_update(const OnlineRow& r, float new_max, float rescale, float tile_sum) {
    return {new_max, add(mul(r.l, rescale), tile_sum)};
}

// acc·rescale + Σ_j p_j·v_j[e], keys j of the tile in order.
QLS_HD float accumulate(float acc, float rescale) { return mul(acc, rescale); }
QLS_HD float accumulate_key(float acc, float p, float v) { return add(acc, mul(p, v)); }

QLS_HD float finalize_out(float acc, const OnlineRow& r) { return acc / r.l; }
QLS_HD float finalize_lse(const OnlineRow& r) { return add(r.m, logf(r.l)); }

// Backward: p = exp(score − lse); dS = p·(dP − Δ), Δ = Σ_e dO[e]·O[e].
QLS_HD float backward_probability(float score, float lse, bool valid) { return valid ? expf(score - lse) : 0.0f; }
QLS_HD float backward_ds(float p, float dp, float delta) { return mul(p, sub(dp, delta)); }
QLS_HD float row_delta(const float* dout, const float* out, std::int64_t d) {
    float s = 0.0f;
    for (std::int64_t e = 0; e < d; ++e) s = add(s, mul(dout[e], out[e]));
    return s;
}

// The xor-butterfly a warp reduces with (lane i takes lane i^off for off = 16, 8, 4, 2, 1):
// every lane ends with the same value, since each step adds two equal-ordered halves. The host
// replays it on 32 values.
QLS_HD float butterfly_sum_host(float* v) {
    for (int off = kWarp / 2; off > 0; off /= 2) {
        float next[kWarp];
        for (int i = 0; i < kWarp; ++i) next[i] = add(v[i], v[i ^ off]);
        for (int i = 0; i < kWarp; ++i) v[i] = next[i];
    }
    return v[0];
}
QLS_HD float butterfly_max_host(float* v) {
    for (int off = kWarp / 2; off > 0; off /= 2) {
        float next[kWarp];
        for (int i = 0; i < kWarp; ++i) next[i] = v[i] > v[i ^ off] ? v[i] : v[i ^ off];
        for (int i = 0; i < kWarp; ++i) v[i] = next[i];
    }
    return v[0];
}

}  // namespace qls::kmath::attn
