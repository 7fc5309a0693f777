// Frozen base linear layer plus LoRA (formats.md §5, peft lora.Linear / bnb Linear4bit):
// y = residual + x·Wᵀ + bias + Σ_parts scaling · (dropout(x)·Aᵀ)·Bᵀ into the part's output
// columns. The base weight gets no gradient.
#include <cstring>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_ops.h"
#include "core/backend/cpu/cpu_twin.h"
#include "core/backend/dropout_mask.h"
#include "core/util/parallel.h"

namespace qls {

namespace {

// dropout(x) into scratch, or x itself when p = 0. Element i of x is element index0 + i of the
// activation the mask covers (mask_row0).
const float* lora_input(const LoraView& l, const Tensor& x, std::uint64_t index0, float* scratch) {
    if (l.dropout <= 0.0f) return x.ptr<const float>();
    const float* src = x.ptr<const float>();
    parallel_for(static_cast<std::size_t>(x.numel()), 1 << 14, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i)
            scratch[i] = src[i] * dropout_factor(l.dropout_seed, index0 + i, l.dropout);
    });
    return scratch;
}

// Where a part's x·Aᵀ lives: its columns of the caller's lora_xa, or a scratch of its own.
struct XaSlot {
    float* data;
    std::int64_t ld;
};

// Adapters without dropout whose A (and dA) lie one after another in memory, as LoraParameters
// stacks the modules that share an input: their x·Aᵀ, dA and dx are one GEMM each, reading x
// once instead of once per module.
bool stacked(std::span<const LoraPart> parts) {
    if (parts.size() < 2) return false;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const LoraView& l = parts[i].view;
        if (l.dropout > 0.0f) return false;
        if (i == 0) continue;
        const LoraView& p = parts[i - 1].view;
        if (l.a.data != p.a.data + p.a.bytes() || l.da.empty() != p.da.empty() ||
            (!l.da.empty() && l.da.data != p.da.data + p.da.bytes()))
            return false;
    }
    return true;
}

std::int64_t total_rank(std::span<const LoraPart> parts) {
    std::int64_t r = 0;
    for (const LoraPart& p : parts) r += p.view.a.dim(0);
    return r;
}

}  // namespace

void CpuBackend::linear_forward_impl(const LinearForwardArgs& a) {
    const bool aliased = !a.residual.empty() && a.residual.data == a.out.data;
    const Tensor none;
    cpu::Fp32Twin twin(*this, {&a.x, &a.out, aliased ? &none : &a.residual});
    LinearForwardArgs f = a;
    f.x = twin.read(a.x);
    f.out = twin.write(a.out, aliased);
    f.residual = aliased ? f.out : twin.read(a.residual);
    linear_forward_f32(f);
    twin.store();
}

void CpuBackend::linear_backward_impl(const LinearBackwardArgs& a) {
    cpu::Fp32Twin twin(*this, {&a.x, &a.dout, &a.dx});
    LinearBackwardArgs f = a;
    f.x = twin.read(a.x);
    f.dout = twin.read(a.dout);
    f.dx = twin.write(a.dx, a.dx_mode == GradMode::Accumulate);
    linear_backward_f32(f);
    twin.store();
}

void CpuBackend::linear_forward_f32(const LinearForwardArgs& a) {
    const LinearWeight& w = *a.weight;
    const std::int64_t n = a.x.rows();
    float* y = a.out.ptr<float>();
    float beta = 0.0f;
    if (!a.residual.empty()) {
        if (a.residual.data != a.out.data) std::memcpy(a.out.data, a.residual.data, a.out.bytes());
        beta = 1.0f;
    }
    for_weight_blocks(w, [&](const float* rows, std::int64_t first, std::int64_t count) {
        cpu::gemm(false, true, n, count, w.in, 1.0f, a.x.ptr<const float>(), w.in, rows, w.in, beta, y + first, w.out);
    });
    if (!w.bias.empty()) {
        std::vector<float> bias(static_cast<std::size_t>(w.out));
        cpu::to_f32(w.bias, bias.data(), 0, w.out);
        for (std::int64_t r = 0; r < n; ++r)
            for (std::int64_t c = 0; c < w.out; ++c) y[r * w.out + c] += bias[c];
    }
    if (a.lora.empty()) return;
    const auto index0 = static_cast<std::uint64_t>(a.mask_row0 * w.in);
    const bool fused = !a.lora_xa.empty() && stacked(a.lora);
    if (fused)
        cpu::gemm(false, true, n, a.lora_xa.cols(), w.in, 1.0f, a.x.ptr<const float>(), w.in,
                  a.lora.front().view.a.ptr<const float>(), w.in, 0.0f, a.lora_xa.ptr<float>(), a.lora_xa.cols());
    std::int64_t column = 0;
    for (const LoraPart& part : a.lora) {
        const LoraView& l = part.view;
        const std::int64_t rank = l.a.dim(0), outs = l.b.dim(0);
        const XaSlot xa = a.lora_xa.empty() ? XaSlot{scratch(Scratch::LoraMid, n * rank), rank}
                                            : XaSlot{a.lora_xa.ptr<float>() + column, a.lora_xa.cols()};
        if (!fused) {
            const float* xd = lora_input(l, a.x, index0, scratch(Scratch::LoraInput, a.x.numel()));
            cpu::gemm(false, true, n, rank, w.in, 1.0f, xd, w.in, l.a.ptr<const float>(), w.in, 0.0f, xa.data, xa.ld);
        }
        cpu::gemm(false, true, n, outs, rank, l.scaling, xa.data, xa.ld, l.b.ptr<const float>(), rank, 1.0f,
                  y + part.offset, w.out);
        column += rank;
    }
}

void CpuBackend::linear_backward_f32(const LinearBackwardArgs& a) {
    const LinearWeight& w = *a.weight;
    const std::int64_t n = a.x.rows();
    const float* dout = a.dout.ptr<const float>();
    float* dx = a.dx.empty() ? nullptr : a.dx.ptr<float>();
    if (dx) {
        const float beta = a.dx_mode == GradMode::Accumulate ? 1.0f : 0.0f;
        for_weight_blocks(w, [&](const float* rows, std::int64_t first, std::int64_t count) {
            cpu::gemm(false, false, n, w.in, count, 1.0f, dout + first, w.out, rows, w.in, first == 0 ? beta : 1.0f,
                      dx, w.in);
        });
    }
    if (a.lora.empty()) return;
    if (!a.lora_xa.empty() && stacked(a.lora)) return lora_backward_stacked(a);
    const auto index0 = static_cast<std::uint64_t>(a.mask_row0 * w.in);
    std::int64_t column = 0;
    for (const LoraPart& part : a.lora) {
        const LoraView& l = part.view;
        const std::int64_t rank = l.a.dim(0), outs = l.b.dim(0);
        const float* dpart = dout + part.offset;  // (N, outs) with leading dimension w.out
        const float* xd = lora_input(l, a.x, index0, scratch(Scratch::LoraInput, a.x.numel()));
        const XaSlot xa = a.lora_xa.empty() ? XaSlot{scratch(Scratch::LoraMid, n * rank), rank}
                                            : XaSlot{a.lora_xa.ptr<float>() + column, a.lora_xa.cols()};
        if (!a.lora_xa_ready && !l.db.empty())  // not kept from forward: compute it again
            cpu::gemm(false, true, n, rank, w.in, 1.0f, xd, w.in, l.a.ptr<const float>(), w.in, 0.0f, xa.data,
                      xa.ld);
        float* dxa = scratch(Scratch::LoraMid2, n * total_rank(a.lora));  // (N, r) of it
        cpu::gemm(false, false, n, rank, outs, l.scaling, dpart, w.out, l.b.ptr<const float>(), rank, 0.0f, dxa,
                  rank);
        if (!l.db.empty()) {
            cpu::gemm(true, false, outs, rank, n, l.scaling, dpart, w.out, xa.data, xa.ld, 1.0f, l.db.ptr<float>(),
                      rank);
            cpu::gemm(true, false, rank, w.in, n, 1.0f, dxa, rank, xd, w.in, 1.0f, l.da.ptr<float>(), w.in);
        }
        column += rank;
        if (!dx) continue;
        if (l.dropout <= 0.0f) {
            cpu::gemm(false, false, n, w.in, rank, 1.0f, dxa, rank, l.a.ptr<const float>(), w.in, 1.0f, dx, w.in);
            continue;
        }
        // Through the dropout: the same mask as forward, regenerated from the seed.
        float* dxd = scratch(Scratch::LoraInput, a.x.numel());
        cpu::gemm(false, false, n, w.in, rank, 1.0f, dxa, rank, l.a.ptr<const float>(), w.in, 0.0f, dxd, w.in);
        parallel_for(static_cast<std::size_t>(a.x.numel()), 1 << 14, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i)
                dx[i] += dxd[i] * dropout_factor(l.dropout_seed, index0 + i, l.dropout);
        });
    }
}

// The stacked adapters of one input (see stacked()): per module only the B products; x·Aᵀ,
// dA and dx are one GEMM over the stacked A block.
void CpuBackend::lora_backward_stacked(const LinearBackwardArgs& a) {
    const LinearWeight& w = *a.weight;
    const std::int64_t n = a.x.rows(), ranks = a.lora_xa.cols();
    const float* x = a.x.ptr<const float>();
    const float* a_block = a.lora.front().view.a.ptr<const float>();
    float* xa = a.lora_xa.ptr<float>();
    const bool grads = !a.lora.front().view.db.empty();
    if (!a.lora_xa_ready && grads) cpu::gemm(false, true, n, ranks, w.in, 1.0f, x, w.in, a_block, w.in, 0.0f, xa, ranks);
    float* dxa = scratch(Scratch::LoraMid2, n * ranks);  // (N, Σ r)
    std::int64_t column = 0;
    for (const LoraPart& part : a.lora) {
        const LoraView& l = part.view;
        const std::int64_t rank = l.a.dim(0), outs = l.b.dim(0);
        const float* dpart = a.dout.ptr<const float>() + part.offset;
        cpu::gemm(false, false, n, rank, outs, l.scaling, dpart, w.out, l.b.ptr<const float>(), rank, 0.0f,
                  dxa + column, ranks);
        if (grads)
            cpu::gemm(true, false, outs, rank, n, l.scaling, dpart, w.out, xa + column, ranks, 1.0f, l.db.ptr<float>(),
                      rank);
        column += rank;
    }
    if (grads)
        cpu::gemm(true, false, ranks, w.in, n, 1.0f, dxa, ranks, x, w.in, 1.0f, a.lora.front().view.da.ptr<float>(),
                  w.in);
    if (!a.dx.empty())
        cpu::gemm(false, false, n, w.in, ranks, 1.0f, dxa, ranks, a_block, w.in, 1.0f, a.dx.ptr<float>(), w.in);
}

}  // namespace qls
