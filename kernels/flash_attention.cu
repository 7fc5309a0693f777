// Causal attention over packed variable-length sequences with GQA on the GPU, flash-attention
// style (FlashAttention-2's algorithm: online softmax over key tiles in shared memory, the
// log-sum-exp saved, never a T×T matrix), matching core/backend/cpu/cpu_attention.cpp and
// cpu_attention_decode.cpp. fp32 arithmetic from any activation dtype, one rounding per stored
// output; the arithmetic and the launch plans are kernels/math/flash_attention_math.h.
//
// Forward (and decoding against a KV cache): a CTA takes a block of query rows of one sequence
// and head, each warp a few rows; lane j scores key j of each tile. Backward: Δ = rowsum(dO∘O)
// first; then dK/dV per block of keys of one KV head, looping over every query row of the heads
// that share it in a fixed order, and dQ per block of query rows looping over keys. No atomics:
// the backward is deterministic whatever AttentionBackwardArgs::deterministic asks.
// This layout is the correct, portable baseline (sm_75 to sm_120); tensor-core tiles are the
// speed work of issue 14.
#include "kernels/cuda_ops.h"
#include "kernels/math/flash_attention_math.h"
#include "kernels/math/launch_plan.h"

namespace qls::cuda {

namespace {

using kmath::Elem;
namespace attn = kmath::attn;

constexpr int kThreads = attn::kWarps * attn::kWarp;

// Where a sequence's rows are: packed training sequences (cu) or decoding (cu == nullptr).
struct Geometry {
    const std::int32_t* cu = nullptr;
    std::int64_t sequences = 0;
    std::int64_t tn = 0, cap = 0, past = 0;
    __device__ attn::SeqBounds operator()(std::int64_t s) const {
        return cu ? attn::varlen_bounds(cu, s) : attn::decode_bounds(s, tn, cap, past);
    }
};

// A (rows, heads, D) activation whose rows may be strided.
struct Rows {
    const void* data = nullptr;
    std::int64_t pitch = 0;  // elements from one token row to the next
    __device__ float at(Elem e, std::int64_t row, std::int64_t head, std::int64_t d, std::int64_t i) const {
        return kmath::load(data, e, row * pitch + head * d + i);
    }
};

struct Common {
    Elem e = Elem::F32;
    std::int64_t d = 0, group = 1;
    float scale = 1.0f;
    Geometry geo;
};

__device__ float warp_sum(float v) {
    for (int off = attn::kWarp / 2; off > 0; off /= 2) v = kmath::add(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

__device__ float warp_max(float v) {
    for (int off = attn::kWarp / 2; off > 0; off /= 2) {
        const float o = __shfl_xor_sync(0xffffffffu, v, off);
        v = v > o ? v : o;
    }
    return v;
}

// The block this CTA takes, found by thread 0; false (for every thread) when past the last.
__device__ bool this_block(const Geometry& geo, std::int64_t rows, attn::SeqBounds& sb, std::int64_t& first) {
    __shared__ long long found[2];
    if (threadIdx.x == 0) {
        std::int64_t seq = -1, q0 = 0;
        if (!attn::find_block(geo, geo.sequences, blockIdx.x, rows, seq, q0)) seq = -1;
        found[0] = seq;
        found[1] = q0;
    }
    __syncthreads();
    if (found[0] < 0) return false;
    sb = geo(found[0]);
    first = found[1];
    return true;
}

// Keys [k0, k0 + keys) of head kvh into padded shared rows (zeros past `end`).
__device__ void load_keys(float* ks, float* vs, const Rows& k, const Rows& v, const Common& c, std::int64_t k_row0,
                          std::int64_t kvh, std::int64_t k0, int keys, std::int64_t end) {
    const std::int64_t d = c.d, n = std::int64_t(keys) * d;
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const std::int64_t j = i / d, x = i % d;
        const bool in = k0 + j < end;
        ks[j * (d + 1) + x] = in ? k.at(c.e, k_row0 + k0 + j, kvh, d, x) : 0.0f;
        vs[j * (d + 1) + x] = in ? v.at(c.e, k_row0 + k0 + j, kvh, d, x) : 0.0f;
    }
}

struct ForwardParams {
    Common c;
    Rows q, k, v;
    void* out = nullptr;
    std::int64_t out_pitch = 0;
    float* lse = nullptr;  // (Hq, lse_stride) or null (decoding)
    std::int64_t lse_stride = 0;
    attn::ForwardPlan plan;
};

template <int C>
__global__ void __launch_bounds__(kThreads) attention_forward_kernel(ForwardParams p) {
    constexpr int R = C == 8 ? 2 : 4;  // forward_plan's rows_per_warp
    extern __shared__ float smem[];
    const Common& c = p.c;
    const std::int64_t d = c.d, h = blockIdx.y, kvh = h / c.group;
    const int rows = p.plan.rows(), keys = p.plan.keys;
    attn::SeqBounds sb;
    std::int64_t q0 = 0;
    if (!this_block(c.geo, rows, sb, q0)) return;
    const std::int64_t count = sb.nq - q0 < rows ? sb.nq - q0 : rows;
    float* qs = smem;
    float* ks = qs + std::int64_t(rows) * d;
    float* vs = ks + std::int64_t(keys) * (d + 1);
    for (std::int64_t i = threadIdx.x; i < std::int64_t(rows) * d; i += blockDim.x) {
        const std::int64_t r = i / d;
        qs[i] = r < count ? p.q.at(c.e, sb.q_row0 + q0 + r, h, d, i % d) : 0.0f;
    }
    const int warp = threadIdx.x / attn::kWarp, lane = threadIdx.x % attn::kWarp;
    float acc[R][C];
    attn::OnlineRow st[R];
    #pragma unroll
    for (int r = 0; r < R; ++r) {
        st[r] = attn::online_start();
        #pragma unroll
        for (int i = 0; i < C; ++i) acc[r][i] = 0.0f;
    }
    const std::int64_t key_end = sb.offset + q0 + count;  // the last row sees keys [0, key_end)
    for (std::int64_t k0 = 0; k0 < key_end; k0 += keys) {
        __syncthreads();  // the previous tile is used up (and the q rows are in)
        load_keys(ks, vs, p.k, p.v, c, sb.k_row0, kvh, k0, keys, key_end);
        __syncthreads();
        #pragma unroll
        for (int r = 0; r < R; ++r) {
            const int qr = warp * R + r;
            const std::int64_t pos = sb.offset + q0 + qr;  // sees keys 0..pos
            if (qr >= count || k0 > pos) continue;          // warp-uniform
            const bool valid = lane < keys && k0 + lane <= pos;
            const float s = valid ? attn::scaled_dot(qs + std::int64_t(qr) * d, ks + lane * (d + 1), d, c.scale)
                                  : -kmath::infinity();
            const float m = attn::online_max(st[r], warp_max(s));
            const float rescale = attn::online_rescale(st[r], m);
            const float prob = attn::probability(s, m, valid);
            st[r] = attn::online_update(st[r], m, rescale, warp_sum(prob));
            #pragma unroll
            for (int i = 0; i < C; ++i) acc[r][i] = attn::accumulate(acc[r][i], rescale);
            for (int j = 0; j < keys && k0 + j <= pos; ++j) {
                const float pj = __shfl_sync(0xffffffffu, prob, j);
                #pragma unroll
                for (int i = 0; i < C; ++i) {
                    const std::int64_t x = lane + attn::kWarp * i;
                    if (x < d) acc[r][i] = attn::accumulate_key(acc[r][i], pj, vs[j * (d + 1) + x]);
                }
            }
        }
    }
    #pragma unroll
    for (int r = 0; r < R; ++r) {
        const int qr = warp * R + r;
        if (qr >= count) continue;
        const std::int64_t row = sb.q_row0 + q0 + qr;
        #pragma unroll
        for (int i = 0; i < C; ++i) {
            const std::int64_t x = lane + attn::kWarp * i;
            if (x < d) kmath::store(p.out, c.e, row * p.out_pitch + h * d + x, attn::finalize_out(acc[r][i], st[r]));
        }
        if (p.lse && lane == 0) p.lse[h * p.lse_stride + row] = attn::finalize_lse(st[r]);
    }
}

// Δ[h, row] = Σ dO·O over the head's D elements, one thread per (row, head).
__global__ void attention_delta_kernel(Rows dout, Rows out, Elem e, std::int64_t n, std::int64_t hq, std::int64_t d,
                                       float* delta) {
    const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
    for (std::int64_t t = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < n * hq; t += stride) {
        const std::int64_t h = t / n, row = t % n;
        float s = 0.0f;
        for (std::int64_t i = 0; i < d; ++i) s = kmath::add(s, kmath::mul(dout.at(e, row, h, d, i), out.at(e, row, h, d, i)));
        delta[h * n + row] = s;
    }
}

struct BackwardParams {
    Common c;
    Rows q, k, v, dout;
    const float* lse = nullptr;    // (Hq, N)
    const float* delta = nullptr;  // (Hq, N)
    std::int64_t n = 0;
    void* dq = nullptr;
    void* dk = nullptr;
    void* dv = nullptr;
    std::int64_t dq_pitch = 0, dk_pitch = 0, dv_pitch = 0;
    attn::ForwardPlan qplan;
    attn::KeyBlockPlan kplan;
};

// dQ = scale · Σ_j dS_j · k_j for a block of query rows.
template <int C>
__global__ void __launch_bounds__(kThreads) attention_dq_kernel(BackwardParams p) {
    constexpr int R = C == 8 ? 2 : 4;
    extern __shared__ float smem[];
    const Common& c = p.c;
    const std::int64_t d = c.d, h = blockIdx.y, kvh = h / c.group;
    const int rows = p.qplan.rows(), keys = p.qplan.keys;
    attn::SeqBounds sb;
    std::int64_t q0 = 0;
    if (!this_block(c.geo, rows, sb, q0)) return;
    const std::int64_t count = sb.nq - q0 < rows ? sb.nq - q0 : rows;
    float* qs = smem;
    float* dos = qs + std::int64_t(rows) * d;
    float* ks = dos + std::int64_t(rows) * d;
    float* vs = ks + std::int64_t(keys) * (d + 1);
    for (std::int64_t i = threadIdx.x; i < std::int64_t(rows) * d; i += blockDim.x) {
        const std::int64_t r = i / d;
        qs[i] = r < count ? p.q.at(c.e, sb.q_row0 + q0 + r, h, d, i % d) : 0.0f;
        dos[i] = r < count ? p.dout.at(c.e, sb.q_row0 + q0 + r, h, d, i % d) : 0.0f;
    }
    const int warp = threadIdx.x / attn::kWarp, lane = threadIdx.x % attn::kWarp;
    float acc[R][C];
    float lse[R], delta[R];
    #pragma unroll
    for (int r = 0; r < R; ++r) {
        const int qr = warp * R + r;
        const std::int64_t row = sb.q_row0 + q0 + qr;
        lse[r] = qr < count ? p.lse[h * p.n + row] : 0.0f;
        delta[r] = qr < count ? p.delta[h * p.n + row] : 0.0f;
        #pragma unroll
        for (int i = 0; i < C; ++i) acc[r][i] = 0.0f;
    }
    const std::int64_t key_end = sb.offset + q0 + count;
    for (std::int64_t k0 = 0; k0 < key_end; k0 += keys) {
        __syncthreads();
        load_keys(ks, vs, p.k, p.v, c, sb.k_row0, kvh, k0, keys, key_end);
        __syncthreads();
        #pragma unroll
        for (int r = 0; r < R; ++r) {
            const int qr = warp * R + r;
            const std::int64_t pos = sb.offset + q0 + qr;
            if (qr >= count || k0 > pos) continue;
            const bool valid = lane < keys && k0 + lane <= pos;
            float ds = 0.0f;
            if (valid) {
                const float s = attn::scaled_dot(qs + std::int64_t(qr) * d, ks + lane * (d + 1), d, c.scale);
                const float dp = attn::scaled_dot(dos + std::int64_t(qr) * d, vs + lane * (d + 1), d, 1.0f);
                ds = attn::backward_ds(attn::backward_probability(s, lse[r], true), dp, delta[r]);
            }
            for (int j = 0; j < keys && k0 + j <= pos; ++j) {
                const float dsj = __shfl_sync(0xffffffffu, ds, j);
                #pragma unroll
                for (int i = 0; i < C; ++i) {
                    const std::int64_t x = lane + attn::kWarp * i;
                    if (x < d) acc[r][i] = attn::accumulate_key(acc[r][i], dsj, ks[j * (d + 1) + x]);
                }
            }
        }
    }
    #pragma unroll
    for (int r = 0; r < R; ++r) {
        const int qr = warp * R + r;
        if (qr >= count) continue;
        const std::int64_t row = sb.q_row0 + q0 + qr;
        #pragma unroll
        for (int i = 0; i < C; ++i) {
            const std::int64_t x = lane + attn::kWarp * i;
            if (x < d) kmath::store(p.dq, c.e, row * p.dq_pitch + h * d + x, kmath::mul(c.scale, acc[r][i]));
        }
    }
}

// dK = scale · Σ dS·q and dV = Σ p·dO for a block of keys of KV head blockIdx.y, over the query
// rows of every head of its group, heads then rows in order.
template <int C>
__global__ void __launch_bounds__(kThreads) attention_dkdv_kernel(BackwardParams p) {
    constexpr int KW = 16 / C;  // key_block_plan's keys_per_warp at most
    extern __shared__ float smem[];
    const Common& c = p.c;
    const std::int64_t d = c.d, kvh = blockIdx.y;
    const int kpw = p.kplan.keys_per_warp, tile = p.kplan.query_tile, keys = p.kplan.keys();
    attn::SeqBounds sb;
    std::int64_t kb0 = 0;
    if (!this_block(c.geo, keys, sb, kb0)) return;
    const std::int64_t nkeys = sb.nq - kb0 < keys ? sb.nq - kb0 : keys;
    float* qt = smem;                                 // tile × (d + 1)
    float* dot = qt + std::int64_t(tile) * (d + 1);   // tile × (d + 1)
    float* lses = dot + std::int64_t(tile) * (d + 1); // tile
    float* deltas = lses + tile;                      // tile
    float* ks = deltas + tile;                        // keys × (d + 1)
    float* vs = ks + std::int64_t(keys) * (d + 1);
    load_keys(ks, vs, p.k, p.v, c, sb.k_row0, kvh, kb0, keys, kb0 + nkeys);
    const int warp = threadIdx.x / attn::kWarp, lane = threadIdx.x % attn::kWarp;
    float dk[KW][C], dv[KW][C];
    for (int j = 0; j < KW; ++j)
        #pragma unroll
        for (int i = 0; i < C; ++i) dk[j][i] = dv[j][i] = 0.0f;
    for (std::int64_t h = kvh * c.group; h < (kvh + 1) * c.group; ++h)
        for (std::int64_t t0 = kb0; t0 < sb.nq; t0 += tile) {  // queries before kb0 see none of these keys
            __syncthreads();  // the previous tile is used up (and the keys are in)
            for (std::int64_t i = threadIdx.x; i < std::int64_t(tile) * d; i += blockDim.x) {
                const std::int64_t r = i / d, x = i % d;
                const bool in = t0 + r < sb.nq;
                qt[r * (d + 1) + x] = in ? p.q.at(c.e, sb.q_row0 + t0 + r, h, d, x) : 0.0f;
                dot[r * (d + 1) + x] = in ? p.dout.at(c.e, sb.q_row0 + t0 + r, h, d, x) : 0.0f;
            }
            for (std::int64_t r = threadIdx.x; r < tile; r += blockDim.x) {
                const bool in = t0 + r < sb.nq;
                lses[r] = in ? p.lse[h * p.n + sb.q_row0 + t0 + r] : 0.0f;
                deltas[r] = in ? p.delta[h * p.n + sb.q_row0 + t0 + r] : 0.0f;
            }
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < KW; ++kk) {  // registers indexed at compile time
                const int jl = warp * kpw + kk;
                if (kk >= kpw || jl >= nkeys) continue;  // warp-uniform
                const std::int64_t jpos = kb0 + jl;
                const bool valid = lane < tile && t0 + lane < sb.nq && jpos <= t0 + lane;
                float prob = 0.0f, ds = 0.0f;
                if (valid) {
                    const float s = attn::scaled_dot(qt + lane * (d + 1), ks + jl * (d + 1), d, c.scale);
                    prob = attn::backward_probability(s, lses[lane], true);
                    const float dp = attn::scaled_dot(dot + lane * (d + 1), vs + jl * (d + 1), d, 1.0f);
                    ds = attn::backward_ds(prob, dp, deltas[lane]);
                }
                for (int r = 0; r < tile; ++r) {
                    const float pr = __shfl_sync(0xffffffffu, prob, r), dsr = __shfl_sync(0xffffffffu, ds, r);
                    #pragma unroll
                    for (int i = 0; i < C; ++i) {
                        const std::int64_t x = lane + attn::kWarp * i;
                        if (x >= d) continue;
                        dv[kk][i] = attn::accumulate_key(dv[kk][i], pr, dot[r * (d + 1) + x]);
                        dk[kk][i] = attn::accumulate_key(dk[kk][i], dsr, qt[r * (d + 1) + x]);
                    }
                }
            }
        }
#pragma unroll
    for (int kk = 0; kk < KW; ++kk) {
        const int jl = warp * kpw + kk;
        if (kk >= kpw || jl >= nkeys) continue;
        const std::int64_t row = sb.k_row0 + kb0 + jl;
        #pragma unroll
        for (int i = 0; i < C; ++i) {
            const std::int64_t x = lane + attn::kWarp * i;
            if (x >= d) continue;
            kmath::store(p.dk, c.e, row * p.dk_pitch + kvh * d + x, kmath::mul(c.scale, dk[kk][i]));
            kmath::store(p.dv, c.e, row * p.dv_pitch + kvh * d + x, dv[kk][i]);
        }
    }
}

int chunks_or_throw(std::int64_t d, const char* op) {
    const int c = attn::chunks_for(d);
    if (c == 0)
        throw Error(str_cat("CUDA ", op, ": head dim ", d, " is not supported (at most ", attn::kMaxHeadDim, ")"));
    return c;
}

template <class Kernel>
void launch(Kernel k2, Kernel k4, Kernel k8, int chunks, dim3 grid, std::int64_t shared_floats, cudaStream_t s,
            const auto& params) {
    const Kernel k = chunks == 2 ? k2 : chunks == 4 ? k4 : k8;
    k<<<grid, kThreads, static_cast<std::size_t>(shared_floats) * sizeof(float), s>>>(params);
}

dim3 grid_of(std::int64_t blocks, std::int64_t heads) {
    QLS_ASSERT(blocks < kmath::kMaxGridX && heads < 65536, "attention: grid ", blocks, " x ", heads, " too large");
    return dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(heads));
}

std::string shapes(const Tensor& q, const Tensor& k, std::int64_t max_seqlen) {
    return str_cat("q ", describe(q), ", k ", describe(k), ", max_seqlen ", max_seqlen);
}

}  // namespace

std::size_t attention_workspace_bytes(const AttentionShape& s) {
    return static_cast<std::size_t>(s.hq * s.tokens) * sizeof(float);  // Δ for the backward
}

void attention_forward(const AttentionForwardArgs& a, cudaStream_t s) {
    const std::int64_t n = a.q.dim(0), hq = a.q.dim(1), hkv = a.k.dim(1), d = a.q.dim(2);
    if (n == 0) return;
    ForwardParams p;
    p.c = {elem_of(a.q.dtype), d, hq / hkv, a.scale, {a.cu_seqlens.ptr<const std::int32_t>(), a.cu_seqlens.numel() - 1}};
    p.q = {a.q.data, a.q.row_pitch()};
    p.k = {a.k.data, a.k.row_pitch()};
    p.v = {a.v.data, a.v.row_pitch()};
    p.out = a.out.data;
    p.out_pitch = a.out.row_pitch();
    p.lse = a.lse.ptr<float>();
    p.lse_stride = n;
    const int chunks = chunks_or_throw(d, "attention_forward");
    p.plan = attn::forward_plan(d, false);
    launch(attention_forward_kernel<2>, attention_forward_kernel<4>, attention_forward_kernel<8>, chunks,
           grid_of(attn::block_grid(n, p.c.geo.sequences, p.plan.rows()), hq), p.plan.shared_floats, s, p);
    check_launch("attention_forward", shapes(a.q, a.k, a.max_seqlen));
}

void attention_decode(const AttentionDecodeArgs& a, cudaStream_t s) {
    const std::int64_t b = a.q.dim(0), tn = a.q.dim(1), hq = a.q.dim(2), d = a.q.dim(3);
    const std::int64_t cap = a.k_cache.dim(1), hkv = a.k_cache.dim(2);
    if (b == 0 || tn == 0) return;
    ForwardParams p;
    p.c = {elem_of(a.q.dtype), d, hq / hkv, a.scale, {nullptr, b, tn, cap, a.past}};
    p.q = {a.q.data, hq * d};
    p.k = {a.k_cache.data, hkv * d};
    p.v = {a.v_cache.data, hkv * d};
    p.out = a.out.data;
    p.out_pitch = hq * d;
    const int chunks = chunks_or_throw(d, "attention_decode");
    p.plan = attn::forward_plan(d, false);
    launch(attention_forward_kernel<2>, attention_forward_kernel<4>, attention_forward_kernel<8>, chunks,
           grid_of(attn::block_grid(b * tn, b, p.plan.rows()), hq), p.plan.shared_floats, s, p);
    check_launch("attention_decode", str_cat("q ", describe(a.q), ", cache ", describe(a.k_cache), ", past ", a.past));
}

void attention_backward(const AttentionBackwardArgs& a, cudaStream_t s) {
    const std::int64_t n = a.q.dim(0), hq = a.q.dim(1), hkv = a.k.dim(1), d = a.q.dim(2);
    if (n == 0) return;
    QLS_ASSERT(a.workspace.bytes() >= attention_workspace_bytes({n, a.max_seqlen, hq, hkv, d}),
               "attention_backward: workspace of ", a.workspace.bytes(), " bytes");
    const int chunks = chunks_or_throw(d, "attention_backward");
    BackwardParams p;
    p.c = {elem_of(a.q.dtype), d, hq / hkv, a.scale, {a.cu_seqlens.ptr<const std::int32_t>(), a.cu_seqlens.numel() - 1}};
    p.q = {a.q.data, a.q.row_pitch()};
    p.k = {a.k.data, a.k.row_pitch()};
    p.v = {a.v.data, a.v.row_pitch()};
    p.dout = {a.dout.data, a.dout.row_pitch()};
    p.lse = a.lse.ptr<const float>();
    auto* delta = a.workspace.ptr<float>();
    p.delta = delta;
    p.n = n;
    p.dq = a.dq.data;
    p.dk = a.dk.data;
    p.dv = a.dv.data;
    p.dq_pitch = a.dq.row_pitch();
    p.dk_pitch = a.dk.row_pitch();
    p.dv_pitch = a.dv.row_pitch();
    p.qplan = attn::forward_plan(d, true);
    p.kplan = attn::key_block_plan(d);
    const Rows out{a.out.data, a.out.row_pitch()};
    attention_delta_kernel<<<static_cast<unsigned>(kmath::elementwise_blocks(n * hq, 256)), 256, 0, s>>>(
        p.dout, out, p.c.e, n, hq, d, delta);
    check_launch("attention_backward delta", shapes(a.q, a.k, a.max_seqlen));
    launch(attention_dq_kernel<2>, attention_dq_kernel<4>, attention_dq_kernel<8>, chunks,
           grid_of(attn::block_grid(n, p.c.geo.sequences, p.qplan.rows()), hq), p.qplan.shared_floats, s, p);
    check_launch("attention_backward dq", shapes(a.q, a.k, a.max_seqlen));
    launch(attention_dkdv_kernel<2>, attention_dkdv_kernel<4>, attention_dkdv_kernel<8>, chunks,
           grid_of(attn::block_grid(n, p.c.geo.sequences, p.kplan.keys()), hkv), p.kplan.shared_floats, s, p);
    check_launch("attention_backward dk/dv", shapes(a.q, a.k, a.max_seqlen));
}

}  // namespace qls::cuda
