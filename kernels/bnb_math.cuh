// The fp32 arithmetic bitsandbytes' CUDA kernels get from nvcc --use_fast_math (formats.md
// §1.2): flush-to-zero multiply, abs and max, and the approximate reciprocal. Written as PTX so
// our 4-bit codes and absmax match bnb's bit for bit whatever flags this project builds with;
// the explicit rounding modifier also keeps nvcc from contracting a multiply into an FMA.
#pragma once
#include <cuda_runtime.h>

namespace qls::cuda {

// bnb's `1.0f / absmax`: +inf for 0 (an all-zero block then yields NaN scales and code 0).
__device__ __forceinline__ float bnb_rcp(float x) {
    float r;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
}

__device__ __forceinline__ float bnb_mul(float a, float b) {
    float r;
    asm("mul.rn.ftz.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
}

// fmaxf(acc, fabsf(x)) as fast-math compiles it: a NaN x leaves acc unchanged.
__device__ __forceinline__ float bnb_max_abs(float acc, float x) {
    float r;
    asm("{\n\t.reg .f32 a;\n\tabs.ftz.f32 a, %2;\n\tmax.ftz.f32 %0, %1, a;\n\t}"
        : "=f"(r)
        : "f"(acc), "f"(x));
    return r;
}

__device__ __forceinline__ float bnb_max(float a, float b) {
    float r;
    asm("max.ftz.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
}

}  // namespace qls::cuda
