// The device memory a run plans against (its automatic checkpoint offload, the memory estimate's
// verdict, the largest batch or sequence that fits), and why: a size the user set wins; else a
// device backend's free memory now, so a run on a real GPU plans against what it can still
// take; else none (the CPU without a size set: nothing to run out of but the host's memory).
// Only a set size is enforced by the memory accountant; a real device enforces its own.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "core/backend/backend_registry.h"

namespace qls {

struct RunBudget {
    enum class Source : std::uint8_t { None, Set, DeviceFree };
    Source source = Source::None;
    std::int64_t bytes = 0;  // 0 with Source::None
    std::string reason;  // "budget 12.00 GiB (set)", "11.20 GiB free of 12.00 GiB on NVIDIA H200 (cuda:0)"
};

// `set_bytes` is TrainConfig::device_limit_bytes (0: none); `device` the run's device, "auto"
// resolved as make_backend does. ConfigError as make_backend for a device that cannot be had.
RunBudget run_budget(std::int64_t set_bytes, const DeviceSpec& device);

std::string_view run_budget_source_name(RunBudget::Source source);  // "none", "set", "device_free"

}  // namespace qls
