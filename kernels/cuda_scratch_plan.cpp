// The CUDA backend's own workspace for a step (step_shapes.h): cuBLAS's workspace, taken with
// the backend, and the linear schedule's fp32 slots (linear_schedule.h), each as large as the
// largest call of the step asks for, forward and backward: the schedule's own arithmetic
// (forward_row_floats, backward_row_floats, call_floats) gives them. A base weight that reaches
// a linear in another dtype than the compute dtype is converted whole into the Weight slot.
// clip_grad_norm's partial sums and argument table (8 bytes per 64 Ki gradient values and a few
// bytes per LoRA tensor) are left to grow on the first step.
#include <algorithm>
#include <array>

#include "kernels/cuda_backend.h"
#include "kernels/math/linear_schedule.h"

namespace qls::cuda {

namespace {

using SlotBytes = std::array<std::int64_t, static_cast<std::size_t>(Scratch::Count)>;

SlotBytes slot_bytes(const StepShapes& s) {
    SlotBytes b{};
    auto grow = [&](Scratch slot, std::int64_t bytes) {
        std::int64_t& v = b[static_cast<std::size_t>(slot)];
        v = std::max(v, bytes);
    };
    auto grow_floats = [&](const kmath::LinearBufferFloats& f) {
        grow(Scratch::LinearOut, f.sum * 4);
        grow(Scratch::LinearIn, f.acc * 4);
        grow(Scratch::LoraInput, f.input * 4);
        grow(Scratch::LoraMid, f.mid * 4);
        grow(Scratch::LoraMid2, f.mid2 * 4);
    };
    const bool f32 = s.compute == DType::F32;
    for (const LinearCallShape& l : s.linears) {
        const kmath::CallShape c{l.in, l.out, l.ranks, f32, l.ranks > 0 && (!f32 || l.dropout), l.keeps_xa, l.dx};
        grow_floats(kmath::call_floats(l.rows, kmath::forward_row_floats(c)));
        grow_floats(kmath::call_floats(l.rows, kmath::backward_row_floats(c)));
        if (l.weight != s.compute)
            grow(Scratch::Weight, l.in * l.out * static_cast<std::int64_t>(dtype_size(s.compute)));
    }
    return b;
}

}  // namespace

std::int64_t CudaBackend::op_scratch_bytes_impl(const StepShapes& s) const {
    std::int64_t bytes = static_cast<std::int64_t>(kBlasWorkspaceBytes);
    for (std::int64_t v : slot_bytes(s)) bytes += v;
    return bytes;
}

void CudaBackend::reserve_op_scratch_impl(const StepShapes& s) {
    const SlotBytes b = slot_bytes(s);
    for (std::size_t slot = 0; slot < b.size(); ++slot)
        if (b[slot] > 0) scratch(static_cast<Scratch>(slot), static_cast<std::size_t>(b[slot]));
}

}  // namespace qls::cuda
