#include "kernels/device_info.h"

#include <cuda_runtime.h>

#include "kernels/cuda_check.h"

namespace qls::cuda {

bool device_available() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver" error so later calls start clean
        return false;
    }
    return n > 0;
}

DeviceInfo device_info(int device) {
    QLS_CHECK(Error, device_available(), "no CUDA device is available");
    cudaDeviceProp p{};
    QLS_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
    DeviceInfo info;
    info.name = p.name;
    info.major = p.major;
    info.minor = p.minor;
    info.multiprocessors = p.multiProcessorCount;
    QLS_CUDA_CHECK(cudaSetDevice(device));
    size_t free_b = 0, total_b = 0;
    QLS_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    info.free_bytes = free_b;
    info.total_bytes = total_b;
    return info;
}

}  // namespace qls::cuda
