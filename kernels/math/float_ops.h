// Separately rounded fp32/fp64 operations for the arithmetic cores. nvcc contracts a·b + c into
// one fused multiply-add by default (one rounding instead of two); the CPU twin is compiled in
// ISO C++ mode, where GCC never contracts. Writing the products and sums of an element update
// through these keeps the device's bits equal to the CPU's (the __*_rn intrinsics are never
// fused); on the host they are the plain operators.
#pragma once
#include <cstdint>

#include "kernels/math/float_store.h"
#include "kernels/math/host_device.h"

namespace qls::kmath {

QLS_HD float mul(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

QLS_HD float add(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

QLS_HD float sub(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

QLS_HD double dmul(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}

QLS_HD double dadd(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dadd_rn(a, b);
#else
    return a + b;
#endif
}

// Neither NaN nor ±infinity, by the exponent bits (no <cmath> classification on the device).
QLS_HD bool finite(float x) {
    return (float_bits(x) & 0x7f800000u) != 0x7f800000u;
}

QLS_HD float infinity() {
    return bits_float(0x7f800000u);
}
QLS_HD float quiet_nan() {
    return bits_float(0x7fc00000u);
}

}  // namespace qls::kmath
