// What a device backend can say about the machine's accelerators, for `qlora doctor` and the
// studio's Diagnostics: the runtime and driver, the architectures this build was compiled for,
// each device with its memory, and why there is none when there is none. A device backend
// fills it (kernels/ for CUDA) through its registry factory, so the core needs no CUDA header.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qls {

struct DeviceReport {
    std::string name;                 // "NVIDIA H200"
    int major = 0, minor = 0;         // compute capability
    std::int64_t total_bytes = 0;
    std::int64_t free_bytes = 0;      // as cudaMemGetInfo says now: what a run could still take
    int multiprocessors = 0;
    bool supported = false;           // this build has code that runs on it
};

struct DeviceKindReport {
    std::string kind;            // "cuda"
    bool built = false;          // this build has the backend
    std::string runtime;         // "CUDA runtime 13.0"
    std::string driver;          // "driver 13.0 (CUDA 13.0 supported)", or "" without one
    std::string architectures;   // "sm_75 sm_80 sm_86 sm_89 sm_90 sm_120"
    std::string problem;         // why no device answers, "" when some do
    std::vector<DeviceReport> devices;
};

// One device's memory now, as a run would plan against it: cheaper than a whole report (one
// device, no kernel probe), so the studio can ask it on each edit of the settings.
struct DeviceMemory {
    std::string device;            // "NVIDIA H200 (cuda:0)"
    std::int64_t free_bytes = 0;   // as cudaMemGetInfo says now
    std::int64_t total_bytes = 0;
};

}  // namespace qls
