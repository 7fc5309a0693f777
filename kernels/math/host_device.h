// QLS_HD marks the arithmetic cores that both a CUDA kernel and a CPU test run (DEVELOPERS.md:
// a kernel is a thin shell around them, so the host checks what the device computes). Headers
// under kernels/math include no CUDA header: the core test suite compiles them with g++ alone.
#pragma once

#ifndef QLS_HD
#ifdef __CUDACC__
#define QLS_HD __host__ __device__ __forceinline__
#else
#define QLS_HD inline
#endif
#endif
