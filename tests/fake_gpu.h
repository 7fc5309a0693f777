// A stand-in "cuda" device for tests of what depends on a GPU's presence and free memory: one
// device that computes on the CPU backend and reports `free` (asked anew on every query) of
// `total` bytes. Registrations are process-wide: one test executable, one fake.
#pragma once
#include <functional>

#include "core/backend/backend_registry.h"
#include "core/backend/cpu/cpu_backend.h"

namespace qls::test {

inline void register_fake_gpu(std::function<std::int64_t()> free, std::int64_t total) {
    DeviceBackendFactory f;
    f.kind = "cuda";
    f.device_count = [] { return 1; };
    f.device_name = [](int) { return std::string("Fake GPU"); };
    f.create = [](int) -> std::unique_ptr<Backend> { return std::make_unique<CpuBackend>(); };
    f.memory = [free = std::move(free), total](int i) {
        return DeviceMemory{str_cat("Fake GPU (cuda:", i, ")"), free(), total};
    };
    f.planner = [] { return std::unique_ptr<MemoryPlanner>(std::make_unique<CpuBackend>()); };
    register_device_backend(std::move(f));
}

}  // namespace qls::test
