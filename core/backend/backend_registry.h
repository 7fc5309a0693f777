// The device a run uses, chosen at run time: everything that owns a backend (the trainer,
// evaluation, generation, the studio's playground, benchmarks) gets it here. The CPU backend is
// always there; a device backend (CUDA, in kernels/) registers a factory at program start, so
// the core never links it. "auto" takes the first device backend with a device and otherwise
// the CPU, and says why.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/device_report.h"

namespace qls {

// "auto", "cpu", "cuda" (device 0) or "cuda:N".
struct DeviceSpec {
    enum class Kind : std::uint8_t { Auto, Cpu, Cuda };
    Kind kind = Kind::Auto;
    int index = 0;
};
DeviceSpec parse_device(std::string_view text);  // ConfigError naming the accepted forms
std::string device_spec_name(const DeviceSpec& spec);

// What was chosen, as run.json, the event stream and the status bar show it.
struct BackendChoice {
    std::unique_ptr<Backend> backend;
    std::string kind;          // "cpu" or "cuda"
    std::string id;            // "cpu", "cuda:0": the device itself, where memory is shared
    std::string device;        // "CPU (2 threads)", "NVIDIA H200 (cuda:0)"
    std::int64_t threads = 0;  // host threads the backend's CPU work uses
    std::string reason;        // why: "asked for", or why auto chose the CPU
};

struct DeviceBackendFactory {
    std::string kind;  // "cuda"
    std::function<int()> device_count;
    std::function<std::string(int)> device_name;
    std::function<std::unique_ptr<Backend>(int)> create;
    std::function<DeviceKindReport()> report;  // for qlora doctor / Diagnostics
    std::function<DeviceMemory(int)> memory;   // for the budget a run plans against (run_budget.h)
    std::function<std::unique_ptr<MemoryPlanner>()> planner;  // its memory planning, without a device
};
// Called once per kind at program start (a later registration of the same kind replaces it).
void register_device_backend(DeviceBackendFactory factory);

// ConfigError when the device cannot be had: no backend of that kind in this build, or no such
// device.
BackendChoice make_backend(const DeviceSpec& spec);
// What make_backend(auto) would choose and why, without creating a backend.
struct AutoDevice {
    std::string device;  // "CPU (2 threads)"
    std::string reason;  // "this build has no CUDA backend"
};
AutoDevice auto_device();

// The memory of the device make_backend(spec) would take ("auto" resolved the same way), now,
// without creating a backend; std::nullopt when that is the CPU. ConfigError as make_backend.
std::optional<DeviceMemory> device_memory(const DeviceSpec& spec);

// How a backend of this kind ("cuda") plans memory, without a device, for an estimate against a
// GPU this machine lacks; nullptr when this build has no such backend.
std::unique_ptr<MemoryPlanner> memory_planner(std::string_view kind);

// "auto" (the backend's preferred_compute_dtype), "fp32", "bf16" or "fp16"; ConfigError naming
// the accepted values otherwise.
DType resolve_compute_dtype(std::string_view spec, const Backend& backend);
// ConfigError unless `spec` is one of those names.
void check_compute_dtype(std::string_view spec);

// Every choice a user can make now, for a device menu: auto, cpu, then each device.
struct DeviceOption {
    std::string spec;   // "auto", "cpu", "cuda:0"
    std::string label;  // "auto: CPU (2 threads): this build has no CUDA backend"
};
std::vector<DeviceOption> device_options();

// Every device kind this program knows of (today: cuda), as its backend reports it, or
// built = false when this build has no backend of that kind.
std::vector<DeviceKindReport> device_reports();

}  // namespace qls
