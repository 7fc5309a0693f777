// QLS_CUDA_CHECK: turn a failed CUDA runtime or cuBLAS call into a qls::Error naming the
// expression, the function, file:line and the library's own message.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/util/error.h"

namespace qls::cuda {

inline const char* status_string(cudaError_t e) { return cudaGetErrorString(e); }
inline const char* status_string(cublasStatus_t s) { return cublasGetStatusString(s); }
inline bool status_ok(cudaError_t e) { return e == cudaSuccess; }
inline bool status_ok(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS; }

}  // namespace qls::cuda

#define QLS_CUDA_CHECK(expr)                                                                  \
    do {                                                                                      \
        const auto qls_status_ = (expr);                                                      \
        if (!::qls::cuda::status_ok(qls_status_))                                             \
            throw ::qls::Error(::qls::str_cat(#expr, " failed in ", __func__, " at ", __FILE__, \
                                              ":", __LINE__, ": ",                            \
                                              ::qls::cuda::status_string(qls_status_)));      \
    } while (0)
