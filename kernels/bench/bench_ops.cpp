// qls-bench-ops: the CUDA backend's training ops at Llama-2-7B's shapes (seq 2048 × micro-batch
// 2 = 4096 tokens, hidden 4096, intermediate 11008, 32 heads of 128, vocab 32000), each timed
// through the Backend interface as the model calls it, against what cuBLAS does for the same
// useful work in the same run (issue 14's micro-benchmarks):
//   - a 4-bit linear layer (dequantize NF4+DQ to bf16, forward, input gradient) vs the two bf16
//     GEMMs alone; and with a rank-16 adapter and its gradients;
//   - causal attention forward and backward: useful TFLOP/s vs a square bf16 GEMM's;
//   - LM head + cross-entropy + its input gradient vs the two GEMMs of the LM head;
//   - RMSNorm and SwiGLU: GB/s vs a device-to-device copy.
// CUDA events around each call on the compute stream, warm-ups first, median of the repeats.
// Inputs are random bits of the right dtype: timing does not depend on their values.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/data/batch.h"
#include "core/quant/quant_tables.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_check.h"
#include "kernels/device_info.h"

using namespace qls;

namespace {

constexpr std::int64_t kTokens = 4096, kHidden = 4096, kInter = 11008, kHeads = 32, kHeadDim = 128, kVocab = 32000,
                       kSeq = 2048, kRank = 16;

struct Bench {
    explicit Bench(cuda::CudaBackend& backend) : be(backend) {}
    cuda::CudaBackend& be;
    std::mt19937_64 rng{42};
    std::vector<Buffer> keep;
    int warmup = 3, reps = 10;

    // A tensor of random values (bf16 in [-1, 1), fp32 in [-0.05, 0.05), bytes anything).
    Tensor random(DType t, Shape shape) {
        Buffer b = be.allocate(dtype_size(t) * static_cast<std::size_t>(numel(shape)), Usage::Workspace, "bench");
        Tensor x = b.view(0, t, shape);
        std::vector<std::byte> host(x.bytes());
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (std::size_t i = 0; i < host.size(); i += dtype_size(t)) {
            if (t == DType::BF16) {
                const __nv_bfloat16 v = __float2bfloat16(u(rng));
                std::memcpy(&host[i], &v, 2);
            } else if (t == DType::F32) {
                const float v = 0.05f * u(rng);
                std::memcpy(&host[i], &v, 4);
            } else {
                host[i] = static_cast<std::byte>(rng());
            }
        }
        be.copy_from_host(x, host);
        keep.push_back(std::move(b));
        return x;
    }
    Tensor zeros(DType t, Shape shape) {
        Buffer b = be.allocate(dtype_size(t) * static_cast<std::size_t>(numel(shape)), Usage::Workspace, "bench");
        Tensor x = b.view(0, t, shape);
        be.fill_zero(x);
        keep.push_back(std::move(b));
        return x;
    }
    Tensor host_values(DType t, Shape shape, const std::vector<std::byte>& bytes) {
        Buffer b = be.allocate(bytes.size(), Usage::Workspace, "bench");
        Tensor x = b.view(0, t, shape);
        be.copy_from_host(x, bytes);
        keep.push_back(std::move(b));
        return x;
    }

    // Median milliseconds of fn on the compute stream.
    double time_ms(const std::function<void()>& fn) {
        const cudaStream_t s = be.stream();
        const cuda::EventHandle start = cuda::make_event(), stop = cuda::make_event();
        for (int i = 0; i < warmup; ++i) fn();
        std::vector<float> ms;
        for (int i = 0; i < reps; ++i) {
            QLS_CUDA_CHECK(cudaEventRecord(start.get(), s));
            fn();
            QLS_CUDA_CHECK(cudaEventRecord(stop.get(), s));
            QLS_CUDA_CHECK(cudaEventSynchronize(stop.get()));
            float t = 0;
            QLS_CUDA_CHECK(cudaEventElapsedTime(&t, start.get(), stop.get()));
            ms.push_back(t);
        }
        std::sort(ms.begin(), ms.end());
        return ms[ms.size() / 2];
    }

    // Row-major bf16 C(m, n) = A(m, k) · op(B), B stored (n, k) when trans_b (a linear's
    // weight) else (k, n); fp32 accumulation, as cuBLAS serves a bf16 training GEMM.
    void gemm(const Tensor& a, const Tensor& b, const Tensor& c, std::int64_t m, std::int64_t n, std::int64_t k,
              bool trans_b) {
        const float one = 1.0f, zero = 0.0f;
        QLS_CUDA_CHECK(cublasGemmEx(be.blas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n),
                                    static_cast<int>(m), static_cast<int>(k), &one, b.data, CUDA_R_16BF,
                                    static_cast<int>(trans_b ? k : n), a.data, CUDA_R_16BF, static_cast<int>(k), &zero,
                                    c.data, CUDA_R_16BF, static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
};

void row(const char* what, double ours_ms, double peer_ms, const char* peer, double useful_tflop = 0) {
    std::printf("%-52s %9.3f ms  %-26s %9.3f ms  ratio %.2f", what, ours_ms, peer, peer_ms, peer_ms / ours_ms);
    if (useful_tflop > 0) std::printf("  %.0f TFLOP/s", useful_tflop / (ours_ms * 1e-3));
    std::printf("\n");
}

void bench_linear(Bench& b) {
    const std::int64_t in = kHidden, out = kInter, blocks = in * out / 64;
    LinearWeight q;
    q.in = in;
    q.out = out;
    Quant4View v;
    v.type = QuantType::NF4;
    v.blocksize = 64;
    v.packed = b.random(DType::U8, {in * out / 2});
    std::vector<std::byte> map(16 * 4);
    std::memcpy(map.data(), nf4_values().data(), map.size());
    v.quant_map = b.host_values(DType::F32, {16}, map);
    v.absmax_codes = b.random(DType::U8, {blocks});
    v.code_map = b.random(DType::F32, {256});
    v.nested_absmax = b.random(DType::F32, {(blocks + 255) / 256});
    v.nested_blocksize = 256;
    q.quant = v;
    LinearWeight dense;
    dense.in = in;
    dense.out = out;
    dense.dense = b.zeros(DType::BF16, {out, in});
    const Tensor x = b.random(DType::BF16, {kTokens, in}), y = b.zeros(DType::BF16, {kTokens, out});
    const Tensor dy = b.random(DType::BF16, {kTokens, out}), dx = b.zeros(DType::BF16, {kTokens, in});
    const double peer = b.time_ms([&] {
        b.gemm(x, dense.dense, y, kTokens, out, in, true);
        b.gemm(dy, dense.dense, dx, kTokens, in, out, false);
    });
    const double ours = b.time_ms([&] {
        b.be.dequantize_weight(q, dense.dense);
        b.be.linear_forward({x, &dense, {}, y, {}, {}});
        b.be.linear_backward({x, dy, &dense, {}, {}, false, dx, GradMode::Overwrite});
    });
    row("linear NF4+DQ 4096x4096->11008: dequant+fwd+dgrad", ours, peer, "2 bf16 GEMMs", 4.0 * kTokens * in * out * 1e-12);
    LoraPart part;
    part.view.a = b.random(DType::F32, {kRank, in});
    part.view.b = b.random(DType::F32, {out, kRank});
    part.view.da = b.zeros(DType::F32, {kRank, in});
    part.view.db = b.zeros(DType::F32, {out, kRank});
    part.view.scaling = 2.0f;
    const Tensor xa = b.zeros(DType::F32, {kTokens, kRank});
    const std::vector<LoraPart> parts = {part};
    const double lora = b.time_ms([&] {
        b.be.dequantize_weight(q, dense.dense);
        b.be.linear_forward({x, &dense, parts, y, {}, xa});
        b.be.linear_backward({x, dy, &dense, parts, xa, true, dx, GradMode::Overwrite});
    });
    row("  the same with LoRA r16 and its gradients", lora, peer, "2 bf16 GEMMs", 4.0 * kTokens * in * out * 1e-12);
}

void bench_attention(Bench& b) {
    const std::int64_t n = kTokens, h = kHeads, d = kHeadDim;
    const Tensor q = b.random(DType::BF16, {n, h, d}), k = b.random(DType::BF16, {n, h, d}),
                 v = b.random(DType::BF16, {n, h, d});
    const Tensor out = b.zeros(DType::BF16, {n, h, d}), dout = b.random(DType::BF16, {n, h, d});
    const Tensor dq = b.zeros(DType::BF16, {n, h, d}), dk = b.zeros(DType::BF16, {n, h, d}),
                 dv = b.zeros(DType::BF16, {n, h, d});
    const Tensor lse = b.zeros(DType::F32, {h, n});
    std::vector<std::byte> cu(3 * 4);
    const std::int32_t offsets[3] = {0, static_cast<std::int32_t>(kSeq), static_cast<std::int32_t>(n)};
    std::memcpy(cu.data(), offsets, cu.size());
    const Tensor cu_seqlens = b.host_values(DType::I32, {3}, cu);
    const std::size_t ws = b.be.attention_workspace_bytes({n, kSeq, h, h, d});
    const Tensor workspace = b.zeros(DType::U8, {static_cast<std::int64_t>(std::max<std::size_t>(ws, 1))});
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    // Useful causal FLOPs: per sequence and head, QKᵀ and PV over the lower triangle,
    // 2 · (T²/2) · D each; backward recomputes QKᵀ and adds dV, dP, dQ, dK: 2.5× forward.
    const double fwd_flop = 2.0 * 2.0 * (kSeq * kSeq / 2.0) * d * h * (n / kSeq);
    const Tensor sq = b.random(DType::BF16, {kHidden, kHidden}), sc = b.zeros(DType::BF16, {kHidden, kHidden});
    const double gemm_ms = b.time_ms([&] { b.gemm(sq, sq, sc, kHidden, kHidden, kHidden, false); });
    const double gemm_tflops = 2.0 * kHidden * kHidden * kHidden / (gemm_ms * 1e-3) * 1e-12;
    std::printf("%-52s %9.3f ms  %.0f TFLOP/s\n", "bf16 GEMM 4096^3 (the rate attention is held to)", gemm_ms,
                gemm_tflops);
    const double f = b.time_ms([&] { b.be.attention_forward({q, k, v, cu_seqlens, kSeq, scale, out, lse, workspace}); });
    row("attention fwd, 2 x 2048 tokens, 32 heads of 128", f, fwd_flop / (gemm_tflops * 1e12) * 1e3,
        "GEMM rate, same FLOPs", fwd_flop * 1e-12);
    const double bw = b.time_ms([&] {
        b.be.attention_backward({q, k, v, cu_seqlens, kSeq, scale, out, lse, dout, dq, dk, dv, true, workspace});
    });
    row("attention bwd (deterministic)", bw, 2.5 * fwd_flop / (gemm_tflops * 1e12) * 1e3, "GEMM rate, same FLOPs",
        2.5 * fwd_flop * 1e-12);
}

void bench_head(Bench& b) {
    LinearWeight head;
    head.in = kHidden;
    head.out = kVocab;
    head.dense = b.random(DType::BF16, {kVocab, kHidden});
    const Tensor x = b.random(DType::BF16, {kTokens, kHidden}), logits = b.zeros(DType::BF16, {kTokens, kVocab});
    const Tensor dx = b.zeros(DType::BF16, {kTokens, kHidden}), losses = b.zeros(DType::F32, {kTokens});
    const Tensor loss_sum = b.zeros(DType::F32, {1});
    std::vector<std::byte> t(static_cast<std::size_t>(kTokens) * 4);
    for (std::int64_t i = 0; i < kTokens; ++i) {
        const auto id = static_cast<std::int32_t>((i * 7919) % kVocab);
        std::memcpy(&t[static_cast<std::size_t>(i) * 4], &id, 4);
    }
    const Tensor targets = b.host_values(DType::I32, {kTokens}, t);
    const double peer = b.time_ms([&] {
        b.gemm(x, head.dense, logits, kTokens, kVocab, kHidden, true);
        b.gemm(logits, head.dense, dx, kTokens, kHidden, kVocab, false);
    });
    const double ours = b.time_ms([&] {
        b.be.linear_forward({x, &head, {}, logits, {}, {}});
        b.be.cross_entropy({logits, targets, losses, 1.0f / kTokens, true, loss_sum});
        b.be.linear_backward({x, logits, &head, {}, {}, false, dx, GradMode::Overwrite});
    });
    row("LM head 4096->32000 + cross-entropy + dgrad", ours, peer, "2 bf16 GEMMs", 4.0 * kTokens * kHidden * kVocab * 1e-12);
}

void bench_elementwise(Bench& b) {
    const Tensor x = b.random(DType::BF16, {kTokens, kHidden}), y = b.zeros(DType::BF16, {kTokens, kHidden});
    const Tensor w = b.random(DType::BF16, {kHidden}), rstd = b.zeros(DType::F32, {kTokens});
    const double copy = b.time_ms([&] { b.be.copy(y, x); });
    const double norm = b.time_ms([&] { b.be.rmsnorm_forward({x, w, 1e-5f, y, rstd}); });
    row("RMSNorm fwd 4096x4096 bf16", norm, copy, "device copy, same bytes");
    const Tensor gu = b.random(DType::BF16, {kTokens, 2 * kInter}), act = b.zeros(DType::BF16, {kTokens, kInter});
    const Tensor act2 = b.zeros(DType::BF16, {kTokens, 2 * kInter});
    const double copy2 = b.time_ms([&] { b.be.copy(act2, gu); });
    const double sw = b.time_ms([&] {
        b.be.swiglu_forward({gu.columns(0, kInter), gu.columns(kInter, kInter), act});
    });
    // SwiGLU moves 1.5x the copy's bytes (reads 2I, writes I per row; the copy reads and writes 2I).
    row("SwiGLU fwd 4096x11008 bf16 (x0.75 bytes of the copy)", sw, 0.75 * copy2, "device copy, same bytes");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (!cuda::device_available()) {
            std::fprintf(stderr, "qls-bench-ops: no CUDA device\n");
            return 2;
        }
        cuda::CudaBackend backend(0);
        Bench b(backend);
        if (argc > 1 && std::strcmp(argv[1], "--quick") == 0) b.reps = 3;
        std::printf("%s; ratio = cuBLAS or copy time / ours (>= 1: as fast as the peer)\n", backend.name().c_str());
        bench_linear(b);
        bench_attention(b);
        bench_head(b);
        bench_elementwise(b);
        backend.synchronize();
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qls-bench-ops: %s\n", e.what());
        return 1;
    }
}
