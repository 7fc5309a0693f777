#include "core/diagnostics/system_report.h"

#include <cblas.h>
#include <sys/utsname.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/backend/backend_registry.h"
#include "core/backend/memory_accountant.h"
#include "core/util/error.h"
#include "core/util/parallel.h"

// OpenBLAS's configuration string ("OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64");
// cblas.h declares it only in some versions.
extern "C" char* openblas_get_config(void);

namespace qls {

namespace {

// The value of "key: value" in a /proc file, or "".
std::string proc_field(const char* path, const std::string& key) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key, 0) != 0) continue;
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
    }
    return "";
}

// "16384 kB" -> bytes.
std::int64_t kib_field(const char* path, const std::string& key) {
    std::istringstream in(proc_field(path, key));
    std::int64_t kib = 0;
    in >> kib;
    return kib * 1024;
}

std::string compiler() {
#if defined(__clang__)
    return str_cat("Clang ", __clang_major__, ".", __clang_minor__, ".", __clang_patchlevel__);
#elif defined(__GNUC__)
    return str_cat("GCC ", __GNUC__, ".", __GNUC_MINOR__, ".", __GNUC_PATCHLEVEL__);
#else
    return "unknown compiler";
#endif
}

std::string device_line(const DeviceReport& d, std::size_t index) {
    return str_cat("  cuda:", index, "  ", d.name, ", compute capability ", d.major, ".", d.minor, ", ",
                   format_bytes(d.total_bytes), " (", format_bytes(d.free_bytes), " free), ", d.multiprocessors,
                   " SMs", d.supported ? "" : "  -- this build has no code for it");
}

}  // namespace

SystemReport system_report(const std::string& program) {
    SystemReport r;
    r.program = program;
#ifdef NDEBUG
    r.build = str_cat("optimized, ", compiler());
#else
    r.build = str_cat("debug (assertions on), ", compiler());
#endif
    utsname u{};
    if (uname(&u) == 0) r.os = str_cat(u.sysname, " ", u.release, " ", u.machine);
    // /etc/os-release is KEY="value", not /proc's "key: value".
    std::ifstream os_release("/etc/os-release");
    for (std::string line; std::getline(os_release, line);)
        if (line.rfind("PRETTY_NAME=", 0) == 0) {
            std::string name = line.substr(12);
            if (name.size() >= 2 && name.front() == '"') name = name.substr(1, name.size() - 2);
            r.os = name + (r.os.empty() ? "" : ", " + r.os);
        }
    r.cpu = proc_field("/proc/cpuinfo", "model name");
    r.threads = static_cast<std::int64_t>(num_threads());
    r.host_memory = kib_field("/proc/meminfo", "MemTotal");
    r.host_available = kib_field("/proc/meminfo", "MemAvailable");
    if (const char* blas = openblas_get_config()) r.blas = blas;
    r.devices = device_reports();
    return r;
}

std::string format_system_report(const SystemReport& r) {
    std::string s = str_cat(r.program, "\n", "build: ", r.build, "\n", "os: ", r.os.empty() ? "unknown" : r.os, "\n",
                            "cpu: ", r.cpu.empty() ? "unknown" : r.cpu, ", ", r.threads, " threads used\n",
                            "memory: ", format_bytes(r.host_memory), " (", format_bytes(r.host_available),
                            " available)\n", "blas: ", r.blas.empty() ? "unknown" : r.blas, "\n");
    for (const DeviceKindReport& k : r.devices) {
        if (!k.built) {
            s += str_cat(k.kind, ": ", k.problem, "\n");
            continue;
        }
        s += str_cat(k.kind, ": ", k.runtime, "; ", k.driver.empty() ? "no driver" : k.driver, "; built for ",
                     k.architectures, "\n");
        if (k.devices.empty()) s += str_cat("  no device: ", k.problem, "\n");
        for (std::size_t i = 0; i < k.devices.size(); ++i) s += device_line(k.devices[i], i) + "\n";
    }
    return s;
}

nlohmann::json system_report_json(const SystemReport& r) {
    nlohmann::json kinds = nlohmann::json::array();
    for (const DeviceKindReport& k : r.devices) {
        nlohmann::json devices = nlohmann::json::array();
        for (const DeviceReport& d : k.devices)
            devices.push_back({{"name", d.name},
                               {"compute_capability", str_cat(d.major, ".", d.minor)},
                               {"total_bytes", d.total_bytes},
                               {"free_bytes", d.free_bytes},
                               {"multiprocessors", d.multiprocessors},
                               {"supported", d.supported}});
        kinds.push_back({{"kind", k.kind},
                         {"built", k.built},
                         {"runtime", k.runtime},
                         {"driver", k.driver},
                         {"architectures", k.architectures},
                         {"problem", k.problem},
                         {"devices", devices}});
    }
    return {{"program", r.program},       {"build", r.build},
            {"os", r.os},                 {"cpu", r.cpu},
            {"threads", r.threads},       {"host_memory_bytes", r.host_memory},
            {"host_available_bytes", r.host_available},
            {"blas", r.blas},             {"devices", kinds}};
}

}  // namespace qls
