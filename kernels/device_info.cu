#include "kernels/device_info.h"

#include <cuda_runtime.h>

#include <sstream>

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

DeviceMemory device_memory_now(int device) {
    cudaDeviceProp p{};
    QLS_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
    int current = 0;
    QLS_CUDA_CHECK(cudaGetDevice(&current));
    // cudaMemGetInfo answers for the current device: switch to it, and back before any throw.
    QLS_CUDA_CHECK(cudaSetDevice(device));
    std::size_t free_b = 0, total_b = 0;
    const cudaError_t asked = cudaMemGetInfo(&free_b, &total_b);
    QLS_CUDA_CHECK(cudaSetDevice(current));
    if (asked != cudaSuccess) {
        cudaGetLastError();  // clear it, so the next CUDA call starts clean
        throw Error(str_cat("cudaMemGetInfo on cuda:", device, " failed: ", cudaGetErrorString(asked)));
    }
    return {str_cat(p.name, " (cuda:", device, ")"), static_cast<std::int64_t>(free_b),
            static_cast<std::int64_t>(total_b)};
}

namespace {

// Does this build carry code the device can run? Asking for a kernel's attributes loads the
// module for the current device: cudaErrorNoKernelImageForDevice when none of our SASS or PTX fits.
__global__ void probe_kernel() {}

std::string cuda_version(int v) { return str_cat(v / 1000, ".", (v % 1000) / 10); }

// "75 80 86" -> "sm_75 sm_80 sm_86" (CMake's list, as the build passed it).
std::string architectures() {
    std::istringstream in(QLS_CUDA_ARCHITECTURES);
    std::string out, a;
    while (in >> a) out += (out.empty() ? "" : " ") + (a == "native" ? std::string("the build machine's GPU") : "sm_" + a);
    return out;
}

}  // namespace

DeviceKindReport cuda_report() {
    DeviceKindReport r;
    r.kind = "cuda";
    r.built = true;
    r.architectures = architectures();
    int runtime = 0, driver = 0;
    if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) r.runtime = "CUDA runtime " + cuda_version(runtime);
    if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0)
        r.driver = str_cat("driver for CUDA ", cuda_version(driver));
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        r.problem = str_cat(cudaGetErrorName(e), ": ", cudaGetErrorString(e));
        cudaGetLastError();
        return r;
    }
    if (count == 0) r.problem = "the driver sees no device";
    for (int i = 0; i < count; ++i) {
        cudaDeviceProp p{};
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess || cudaSetDevice(i) != cudaSuccess) {
            cudaGetLastError();
            continue;
        }
        DeviceReport d;
        d.name = p.name;
        d.major = p.major;
        d.minor = p.minor;
        d.multiprocessors = p.multiProcessorCount;
        std::size_t free_b = 0, total_b = 0;
        if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
            d.free_bytes = static_cast<std::int64_t>(free_b);
            d.total_bytes = static_cast<std::int64_t>(total_b);
        }
        cudaFuncAttributes attr{};
        d.supported = cudaFuncGetAttributes(&attr, probe_kernel) == cudaSuccess;
        cudaGetLastError();
        r.devices.push_back(d);
    }
    return r;
}

}  // namespace qls::cuda
