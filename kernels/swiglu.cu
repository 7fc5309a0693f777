// LlamaMLP's activation silu(gate) ⊙ up and its gradient (formats.md §6.3), matching
// core/backend/cpu/cpu_swiglu.cpp; the arithmetic is kernels/math/swiglu_math.h.
// N rows, I columns; gate, up, dgate and dup may be column blocks of gate|up (strided rows).
#include "kernels/cuda_ops.h"
#include "kernels/math/launch_plan.h"
#include "kernels/math/swiglu_math.h"

namespace qls::cuda {

namespace {

__global__ void swiglu_forward_kernel(const void* gate, std::int64_t gp, const void* up, std::int64_t upp,
                                      void* out, kmath::Elem e, std::int64_t cols, std::int64_t items) {
    const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
    for (std::int64_t w = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; w < items; w += stride) {
        const kmath::RowCol rc = kmath::row_col(w, cols);
        const float g = kmath::load(gate, e, rc.row * gp + rc.col),
                    u = kmath::load(up, e, rc.row * upp + rc.col);
        kmath::store(out, e, w, kmath::swiglu_out(g, u));
    }
}

struct SwigluGradPtrs {
    const void* gate;
    const void* up;
    const void* dout;
    void* dgate;
    void* dup;
    std::int64_t gp, upp, dgp, dupp;  // row pitches; dout is packed
};

__global__ void swiglu_backward_kernel(SwigluGradPtrs p, kmath::Elem e, std::int64_t cols,
                                       std::int64_t items) {
    const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
    for (std::int64_t w = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; w < items; w += stride) {
        const kmath::RowCol rc = kmath::row_col(w, cols);
        const float g = kmath::load(p.gate, e, rc.row * p.gp + rc.col);
        const float u = kmath::load(p.up, e, rc.row * p.upp + rc.col);
        float dg, du;
        kmath::swiglu_grads(g, u, kmath::load(p.dout, e, w), dg, du);
        kmath::store(p.dgate, e, rc.row * p.dgp + rc.col, dg);
        kmath::store(p.dup, e, rc.row * p.dupp + rc.col, du);
    }
}

}  // namespace

void swiglu_forward(const SwigluForwardArgs& a, cudaStream_t s) {
    const std::int64_t cols = a.out.cols(), items = a.out.numel();
    if (items == 0) return;
    const int threads = kmath::kElementwiseThreads;
    swiglu_forward_kernel<<<static_cast<unsigned>(kmath::elementwise_blocks(items, threads)), threads, 0,
                            s>>>(a.gate.data, a.gate.row_pitch(), a.up.data, a.up.row_pitch(), a.out.data,
                                 elem_of(a.out.dtype), cols, items);
    check_launch("swiglu_forward", describe(a.out));
}

void swiglu_backward(const SwigluBackwardArgs& a, cudaStream_t s) {
    const std::int64_t cols = a.dout.cols(), items = a.dout.numel();
    if (items == 0) return;
    const SwigluGradPtrs p{a.gate.data,      a.up.data,           a.dout.data,
                           a.dgate.data,     a.dup.data,          a.gate.row_pitch(),
                           a.up.row_pitch(), a.dgate.row_pitch(), a.dup.row_pitch()};
    const int threads = kmath::kElementwiseThreads;
    swiglu_backward_kernel<<<static_cast<unsigned>(kmath::elementwise_blocks(items, threads)), threads, 0,
                             s>>>(p, elem_of(a.dout.dtype), cols, items);
    check_launch("swiglu_backward", describe(a.dout));
}

}  // namespace qls::cuda
