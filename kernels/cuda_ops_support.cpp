#include <cuda_runtime.h>

#include "kernels/cuda_check.h"
#include "kernels/cuda_ops.h"

namespace qls::cuda {

kmath::Elem elem_of(DType t) {
    switch (t) {
        case DType::F32: return kmath::Elem::F32;
        case DType::BF16: return kmath::Elem::BF16;
        case DType::F16: return kmath::Elem::F16;
        default: break;
    }
    throw InternalError(str_cat("CUDA op: ", dtype_name(t), " is not an activation dtype (F32, BF16, F16)"));
}

void check_launch(const char* op, const std::string& shapes) {
    const cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return;
    int device = -1;
    (void)cudaGetDevice(&device);
    throw Error(str_cat("CUDA ", op, " (", shapes, ") on cuda:", device, " failed: ", cudaGetErrorName(e), ": ",
                        cudaGetErrorString(e)));
}

}  // namespace qls::cuda
