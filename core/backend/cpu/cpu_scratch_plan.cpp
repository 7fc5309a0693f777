// The CPU backend's own scratch for a step (step_shapes.h), slot by slot, as its ops ask for it:
// Weight, the fp32 copy of a 16-bit base weight, a block of rows at a time (the model hands the
// layers' weights over dense, and the LM head is dense); LoraInput, dropout(x) of an adapted linear; LoraMid2, the (rows, Σ r)
// input gradient of a linear's adapters (the model keeps every x·Aᵀ, so LoraMid stays empty);
// Twin, with a 16-bit compute dtype the fp32 copies of the activations of the op that has the
// most (cpu_twin.h).
#include <algorithm>
#include <array>

#include "core/backend/cpu/cpu_backend.h"

namespace qls {

namespace {

std::int64_t twin_floats(const StepShapes& s) {
    const std::int64_t n = s.rows, m = s.mlp_rows, chunk = s.logits_rows;
    const std::int64_t h = s.hidden, inter = s.intermediate, v = s.vocab, qd = s.q_dim, kvd = s.kv_dim;
    const std::int64_t qkv = qd + 2 * kvd;
    std::int64_t largest_layer_weight = 0;
    for (const LinearCallShape& l : s.linears)
        if (l.layer) largest_layer_weight = std::max(largest_layer_weight, l.in * l.out);
    return std::max({
        3 * n * h,                          // RMSNorm backward: x, dy, dx
        n * h + n * qkv + n * h,            // q|k|v backward: x, dout, dx
        2 * n * qd + n * h,                 // o: backward x, dout, dx (forward: x, out, residual)
        n * qd + 2 * n * h,
        2 * m * h + 2 * m * inter,          // gate|up backward
        2 * m * inter + m * h,              // down backward (forward: x, out, residual)
        m * inter + 2 * m * h,
        2 * chunk * h + chunk * v,          // LM head backward: x, dlogits, dx
        4 * n * qd + 4 * n * kvd,           // attention backward: q, k, v, out, dout, dq, dk, dv
        5 * m * inter,                      // SwiGLU backward: gate, up, dout, dgate, dup
        s.layer_weights_in_place ? 0 : largest_layer_weight,  // dequantize_weight into the model's workspace
    });
}

// Floats of each slot, indexed by CpuBackend::Scratch.
std::array<std::int64_t, static_cast<std::size_t>(CpuBackend::Scratch::Count)> slot_floats(const StepShapes& s) {
    std::array<std::int64_t, static_cast<std::size_t>(CpuBackend::Scratch::Count)> f{};
    auto grow = [&](CpuBackend::Scratch slot, std::int64_t floats) {
        std::int64_t& v = f[static_cast<std::size_t>(slot)];
        v = std::max(v, floats);
    };
    for (const LinearCallShape& l : s.linears) {
        if (l.weight != DType::F32) grow(CpuBackend::Scratch::Weight, CpuBackend::converted_weight_elements(l.out, l.in));
        if (l.ranks > 0) {
            grow(CpuBackend::Scratch::LoraInput, l.rows * l.in);
            grow(CpuBackend::Scratch::LoraMid2, l.rows * l.ranks);
            if (!l.keeps_xa) grow(CpuBackend::Scratch::LoraMid, l.rows * l.ranks);
        }
    }
    if (s.compute != DType::F32) grow(CpuBackend::Scratch::Twin, twin_floats(s));
    return f;
}

}  // namespace

std::int64_t CpuBackend::op_scratch_bytes_impl(const StepShapes& s) const {
    std::int64_t floats = 0;
    for (std::int64_t f : slot_floats(s)) floats += f;
    return floats * static_cast<std::int64_t>(sizeof(float));
}

void CpuBackend::reserve_op_scratch_impl(const StepShapes& s) {
    const auto floats = slot_floats(s);
    for (std::size_t slot = 0; slot < floats.size(); ++slot)
        if (floats[slot] > 0) scratch(static_cast<Scratch>(slot), floats[slot]);
}

void CpuBackend::release_op_scratch_impl() {
    for (Buffer& b : m_scratch) b = Buffer();
}

}  // namespace qls
