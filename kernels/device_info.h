// What the CUDA runtime says about the visible GPUs. Safe to call on a machine without one.
#pragma once
#include <cstdint>
#include <string>

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

}  // namespace qls::cuda
