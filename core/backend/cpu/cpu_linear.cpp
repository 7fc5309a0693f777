// Frozen base linear layer plus LoRA (formats.md §5, peft lora.Linear / bnb Linear4bit):
// y = x·Wᵀ + bias + scaling · (dropout(x)·Aᵀ)·Bᵀ. The base weight gets no gradient.
#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_ops.h"
#include "core/backend/dropout_mask.h"
#include "core/util/parallel.h"

namespace qls {

namespace {

// dropout(x) into out, or x itself when p = 0.
const float* lora_input(const LoraView& l, const Tensor& x, float* scratch) {
    if (l.dropout <= 0.0f) return x.ptr<const float>();
    const float* src = x.ptr<const float>();
    parallel_for(static_cast<std::size_t>(x.numel()), 1 << 14, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) scratch[i] = src[i] * dropout_factor(l.dropout_seed, i, l.dropout);
    });
    return scratch;
}

}  // namespace

void CpuBackend::linear_forward_impl(const LinearForwardArgs& a) {
    const LinearWeight& w = *a.weight;
    const std::int64_t n = a.x.rows();
    float* y = a.out.ptr<float>();
    cpu::gemm(false, true, n, w.out, w.in, 1.0f, a.x.ptr<const float>(), w.in, weight_f32(w), w.in,
              0.0f, y, w.out);
    if (!w.bias.empty()) {
        std::vector<float> bias(static_cast<std::size_t>(w.out));
        cpu::to_f32(w.bias, bias.data(), 0, w.out);
        for (std::int64_t r = 0; r < n; ++r)
            for (std::int64_t c = 0; c < w.out; ++c) y[r * w.out + c] += bias[c];
    }
    if (!a.lora) return;
    const LoraView& l = *a.lora;
    const std::int64_t rank = l.a.dim(0);
    const float* xd = lora_input(l, a.x, scratch(Scratch::LoraInput, a.x.numel()));
    float* xa = scratch(Scratch::LoraMid, n * rank);
    cpu::gemm(false, true, n, rank, w.in, 1.0f, xd, w.in, l.a.ptr<const float>(), w.in, 0.0f, xa,
              rank);
    cpu::gemm(false, true, n, w.out, rank, l.scaling, xa, rank, l.b.ptr<const float>(), rank, 1.0f,
              y, w.out);
}

void CpuBackend::linear_backward_impl(const LinearBackwardArgs& a) {
    const LinearWeight& w = *a.weight;
    const std::int64_t n = a.x.rows();
    const float* dout = a.dout.ptr<const float>();
    float* dx = a.dx.empty() ? nullptr : a.dx.ptr<float>();
    if (dx) {
        const float beta = a.dx_mode == GradMode::Accumulate ? 1.0f : 0.0f;
        cpu::gemm(false, false, n, w.in, w.out, 1.0f, dout, w.out, weight_f32(w), w.in, beta, dx,
                  w.in);
    }
    if (!a.lora) return;
    const LoraView& l = *a.lora;
    const std::int64_t rank = l.a.dim(0);
    const float* xd = lora_input(l, a.x, scratch(Scratch::LoraInput, a.x.numel()));
    float* xa = scratch(Scratch::LoraMid, n * rank);   // (N, r), recomputed
    float* dxa = scratch(Scratch::LoraMid2, n * rank);  // (N, r)
    cpu::gemm(false, true, n, rank, w.in, 1.0f, xd, w.in, l.a.ptr<const float>(), w.in, 0.0f, xa,
              rank);
    cpu::gemm(false, false, n, rank, w.out, l.scaling, dout, w.out, l.b.ptr<const float>(), rank,
              0.0f, dxa, rank);
    if (!l.db.empty()) {
        cpu::gemm(true, false, w.out, rank, n, l.scaling, dout, w.out, xa, rank, 1.0f,
                  l.db.ptr<float>(), rank);
        cpu::gemm(true, false, rank, w.in, n, 1.0f, dxa, rank, xd, w.in, 1.0f, l.da.ptr<float>(),
                  w.in);
    }
    if (!dx) return;
    if (l.dropout <= 0.0f) {
        cpu::gemm(false, false, n, w.in, rank, 1.0f, dxa, rank, l.a.ptr<const float>(), w.in, 1.0f,
                  dx, w.in);
        return;
    }
    // Through the dropout: the same mask as forward, regenerated from the seed.
    float* dxd = scratch(Scratch::LoraInput, a.x.numel());
    cpu::gemm(false, false, n, w.in, rank, 1.0f, dxa, rank, l.a.ptr<const float>(), w.in, 0.0f,
              dxd, w.in);
    parallel_for(static_cast<std::size_t>(a.x.numel()), 1 << 14, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) dx[i] += dxd[i] * dropout_factor(l.dropout_seed, i, l.dropout);
    });
}

}  // namespace qls
