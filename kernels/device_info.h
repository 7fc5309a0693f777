// What the CUDA runtime says about the visible GPUs. Safe to call on a machine without one.
#pragma once
#include <cstdint>
#include <string>

#include "core/backend/device_report.h"

namespace qls::cuda {

struct DeviceInfo {
    std::string name;
    int major = 0, minor = 0;        // compute capability
    std::uint64_t total_bytes = 0;
    std::uint64_t free_bytes = 0;
    int multiprocessors = 0;
};

// True when the runtime loads and at least one device answers.
bool device_available();
// Device 0; throws qls::Error when none is available.
DeviceInfo device_info(int device = 0);

// The runtime, the driver, the architectures this build was compiled for and every device,
// for `qlora doctor`; never throws (a missing driver is reported in `problem`).
DeviceKindReport cuda_report();

// One device's name, free and total memory now (the registry's DeviceBackendFactory::memory).
// The calling thread's current device is left as it was; qls::Error when the device cannot say.
DeviceMemory device_memory_now(int device);

}  // namespace qls::cuda
