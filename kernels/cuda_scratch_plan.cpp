// The CUDA backend's own workspace for a step (step_shapes.h): cuBLAS's workspace, taken with
// the backend, and the linear schedule's fp32 slots, each as large as the largest call of the
// step asks for, forward and backward: the schedule's own arithmetic gives them
// (kmath::step_linear_scratch). A base weight that reaches a linear in another dtype than the
// compute dtype is converted whole into the Weight slot. clip_grad_norm's partial sums and
// argument table (8 bytes per 64 Ki gradient values, a few bytes per LoRA tensor) are left to
// grow on the first step. None of it needs a device, so an estimate for a GPU this machine lacks
// plans with it too (cuda_memory_planner).
#include <array>

#include "kernels/cuda_backend.h"
#include "kernels/cuda_ops.h"
#include "kernels/math/linear_schedule.h"

namespace qls::cuda {

namespace {

using SlotBytes = std::array<std::int64_t, static_cast<std::size_t>(Scratch::Count)>;

SlotBytes slot_bytes(const StepShapes& s) {
    const kmath::StepLinearScratch plan = kmath::step_linear_scratch(s);
    SlotBytes b{};
    auto set = [&](Scratch slot, std::int64_t bytes) { b[static_cast<std::size_t>(slot)] = bytes; };
    set(Scratch::Weight, plan.weight_bytes);
    set(Scratch::LinearOut, plan.floats.sum * 4);
    set(Scratch::LinearIn, plan.floats.acc * 4);
    set(Scratch::LoraInput, plan.floats.input * 4);
    set(Scratch::LoraMid, plan.floats.mid * 4);
    set(Scratch::LoraMid2, plan.floats.mid2 * 4);
    return b;
}

std::int64_t scratch_bytes(const StepShapes& s) {
    std::int64_t bytes = static_cast<std::int64_t>(CudaBackend::kBlasWorkspaceBytes);
    for (std::int64_t v : slot_bytes(s)) bytes += v;
    return bytes;
}

class CudaPlanner final : public MemoryPlanner {
protected:
    std::size_t attention_workspace_bytes_impl(const AttentionShape& s) const override {
        return qls::cuda::attention_workspace_bytes(s);  // flash_attention.cu
    }
    std::int64_t op_scratch_bytes_impl(const StepShapes& s) const override { return scratch_bytes(s); }
};

}  // namespace

std::unique_ptr<MemoryPlanner> cuda_memory_planner() { return std::make_unique<CudaPlanner>(); }

std::int64_t CudaBackend::op_scratch_bytes_impl(const StepShapes& s) const { return scratch_bytes(s); }

void CudaBackend::reserve_op_scratch_impl(const StepShapes& s) {
    const SlotBytes b = slot_bytes(s);
    for (std::size_t slot = 0; slot < b.size(); ++slot)
        if (b[slot] > 0) scratch(static_cast<Scratch>(slot), static_cast<std::size_t>(b[slot]));
}

void CudaBackend::release_op_scratch_impl() {
    for (Buffer& b : m_scratch) b = Buffer();
}

}  // namespace qls::cuda
