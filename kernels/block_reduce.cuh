// A CTA-wide reduction in a fixed order, so that a kernel's sums are deterministic and the CPU
// tests can replay them: the tree of kmath::tree_reduce (kernels/math/launch_plan.h), steps
// across warps in shared memory, the last five with warp shuffles.
#pragma once
#include <cuda_runtime.h>

#include "kernels/math/float_ops.h"
#include "kernels/math/launch_plan.h"

namespace qls::cuda {

// A double sum, rounded per addition (no contraction), for the statistics that the CPU twin keeps
// in double.
struct SumF64 {
    __device__ double operator()(double a, double b) const { return kmath::dadd(a, b); }
};

// Lane i gets lane i + off's v (its own past the warp's end), any value of whole 32-bit words.
template <class T>
__device__ __forceinline__ T shfl_down(T v, unsigned off) {
    static_assert(sizeof(T) % 4 == 0, "shuffled as 32-bit words");
    unsigned words[sizeof(T) / 4];
    memcpy(words, &v, sizeof(T));
    for (unsigned& w : words) w = __shfl_down_sync(0xffffffffu, w, off);
    memcpy(&v, words, sizeof(T));
    return v;
}

// Reduces every thread's v with merge; each thread gets the result. blockDim.x must be a power
// of two >= 32; shared holds blockDim.x + 1 values. Every thread of the CTA must call it.
template <class T, class Merge>
__device__ T block_reduce(T v, Merge merge, T* shared) {
    const unsigned tid = threadIdx.x, n = blockDim.x;
    shared[tid] = v;
    __syncthreads();
    for (unsigned off = n / 2; off >= kmath::kWarpSize; off /= 2) {
        if (tid < off) shared[tid] = merge(shared[tid], shared[tid + off]);
        __syncthreads();
    }
    if (tid < kmath::kWarpSize) {
        v = shared[tid];
        for (unsigned off = kmath::kWarpSize / 2; off > 0; off /= 2) v = merge(v, shfl_down(v, off));
        if (tid == 0) shared[n] = v;
    }
    __syncthreads();
    const T result = shared[n];
    __syncthreads();  // the next call may overwrite shared
    return result;
}

}  // namespace qls::cuda
