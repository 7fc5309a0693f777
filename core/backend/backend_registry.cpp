#include "core/backend/backend_registry.h"

#include <charconv>
#include <mutex>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/util/compute_dtype.h"
#include "core/util/parallel.h"

namespace qls {

namespace {

std::mutex g_mutex;
std::vector<DeviceBackendFactory> g_factories;  // guarded by g_mutex

const DeviceBackendFactory* find_factory(std::string_view kind) {
    for (const DeviceBackendFactory& f : g_factories)
        if (f.kind == kind) return &f;
    return nullptr;
}

BackendChoice cpu_choice(std::string reason) {
    BackendChoice c;
    c.backend = std::make_unique<CpuBackend>();
    c.kind = "cpu";
    c.id = "cpu";
    c.threads = static_cast<std::int64_t>(num_threads());
    c.device = str_cat("CPU (", c.threads, " threads)");
    c.reason = std::move(reason);
    return c;
}

// Why auto does not take a CUDA device, or "" when it does.
std::string why_not_cuda(const DeviceBackendFactory* cuda) {
    if (!cuda) return "this build has no CUDA backend";
    if (cuda->device_count() == 0) return "no CUDA device found";
    return "";
}

}  // namespace

DeviceSpec parse_device(std::string_view text) {
    if (text == "auto") return {DeviceSpec::Kind::Auto, 0};
    if (text == "cpu") return {DeviceSpec::Kind::Cpu, 0};
    if (text == "cuda") return {DeviceSpec::Kind::Cuda, 0};
    if (text.starts_with("cuda:")) {
        const std::string_view digits = text.substr(5);
        int index = -1;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
        if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty() && index >= 0)
            return {DeviceSpec::Kind::Cuda, index};
    }
    throw ConfigError(str_cat("device: expected auto, cpu, cuda or cuda:N, got '", text, "'"));
}

std::string device_spec_name(const DeviceSpec& spec) {
    switch (spec.kind) {
        case DeviceSpec::Kind::Auto: return "auto";
        case DeviceSpec::Kind::Cpu: return "cpu";
        case DeviceSpec::Kind::Cuda: return str_cat("cuda:", spec.index);
    }
    return "auto";
}

void register_device_backend(DeviceBackendFactory factory) {
    const std::lock_guard lock(g_mutex);
    for (DeviceBackendFactory& f : g_factories)
        if (f.kind == factory.kind) {
            f = std::move(factory);
            return;
        }
    g_factories.push_back(std::move(factory));
}

namespace {

// The device backend `spec` names, or nullptr for the CPU (asked for, or all auto can have);
// ConfigError when a named device cannot be had. Called with g_mutex held.
const DeviceBackendFactory* resolve_device(const DeviceSpec& spec) {
    if (spec.kind == DeviceSpec::Kind::Cpu) return nullptr;
    const DeviceBackendFactory* cuda = find_factory("cuda");
    const std::string why = why_not_cuda(cuda);
    if (spec.kind == DeviceSpec::Kind::Auto) return why.empty() ? cuda : nullptr;
    QLS_CHECK(ConfigError, why.empty(), "device ", device_spec_name(spec), ": ", why,
              "; use --device cpu (or auto)");
    const int count = cuda->device_count();
    QLS_CHECK(ConfigError, spec.index < count, "device ", device_spec_name(spec), ": only ", count,
              " CUDA device", count == 1 ? "" : "s", " (cuda:0", count > 1 ? str_cat("..cuda:", count - 1) : "",
              ")");
    return cuda;
}

}  // namespace

BackendChoice make_backend(const DeviceSpec& spec) {
    const std::lock_guard lock(g_mutex);
    const DeviceBackendFactory* device = resolve_device(spec);
    if (spec.kind == DeviceSpec::Kind::Cpu) return cpu_choice("asked for");
    if (!device) return cpu_choice("auto chose the CPU: " + why_not_cuda(find_factory("cuda")));
    BackendChoice c;
    c.backend = device->create(spec.index);
    c.kind = device->kind;
    c.id = str_cat(device->kind, ":", spec.index);
    c.device = str_cat(device->device_name(spec.index), " (", device->kind, ":", spec.index, ")");
    c.threads = static_cast<std::int64_t>(num_threads());
    c.reason = spec.kind == DeviceSpec::Kind::Auto ? "auto chose the first CUDA device" : "asked for";
    return c;
}

std::unique_ptr<MemoryPlanner> memory_planner(std::string_view kind) {
    const std::lock_guard lock(g_mutex);
    const DeviceBackendFactory* f = find_factory(kind);
    if (!f) return nullptr;
    QLS_ASSERT(f->planner, "the ", f->kind, " backend registered no memory planner");
    return f->planner();
}

std::optional<DeviceMemory> device_memory(const DeviceSpec& spec) {
    const std::lock_guard lock(g_mutex);
    const DeviceBackendFactory* device = resolve_device(spec);
    if (!device) return std::nullopt;
    QLS_ASSERT(device->memory, "the ", device->kind, " backend registered no memory query");
    return device->memory(spec.index);
}

namespace {
AutoDevice auto_device_locked() {
    const DeviceBackendFactory* cuda = find_factory("cuda");
    const std::string why = why_not_cuda(cuda);
    if (!why.empty()) return {str_cat("CPU (", num_threads(), " threads)"), why};
    return {str_cat(cuda->device_name(0), " (cuda:0)"), "the first CUDA device"};
}
}  // namespace

AutoDevice auto_device() {
    const std::lock_guard lock(g_mutex);
    return auto_device_locked();
}

std::vector<DeviceOption> device_options() {
    const std::lock_guard lock(g_mutex);
    const AutoDevice chosen = auto_device_locked();
    std::vector<DeviceOption> out{{"auto", str_cat("auto: ", chosen.device, " (", chosen.reason, ")")},
                                  {"cpu", str_cat("CPU (", num_threads(), " threads)")}};
    if (const DeviceBackendFactory* cuda = find_factory("cuda"))
        for (int i = 0, n = cuda->device_count(); i < n; ++i)
            out.push_back({str_cat("cuda:", i), str_cat(cuda->device_name(i), " (cuda:", i, ")")});
    return out;
}

std::vector<DeviceKindReport> device_reports() {
    const std::lock_guard lock(g_mutex);
    const DeviceBackendFactory* cuda = find_factory("cuda");
    if (cuda && cuda->report) return {cuda->report()};
    DeviceKindReport none;
    none.kind = "cuda";
    none.problem = "this build has no CUDA backend";
    return {none};
}

void check_compute_dtype(std::string_view spec) {
    QLS_CHECK(ConfigError, spec == "auto" || parse_compute_dtype(spec).has_value(), "compute dtype '", spec,
              "': expected auto, fp32, bf16 or fp16");
}

DType resolve_compute_dtype(std::string_view spec, const Backend& backend) {
    check_compute_dtype(spec);
    return spec == "auto" ? backend.preferred_compute_dtype() : *parse_compute_dtype(spec);
}

}  // namespace qls
