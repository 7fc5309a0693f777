// What a user sends with a bug report (`qlora doctor`, the studio's Help > Diagnostics): the
// program and how it was built, the host (OS, CPU, threads, memory, BLAS) and every device
// kind with its runtime, driver, compiled architectures and devices, or why there are none.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/backend/device_report.h"

namespace qls {

struct SystemReport {
    std::string program;      // "qlora 0.9.0"
    std::string build;        // "RelWithDebInfo, GCC 12.2.0"
    std::string os;           // "Linux 6.1.0-18-amd64 x86_64"
    std::string cpu;          // "AMD EPYC 7763 64-Core Processor"
    std::int64_t threads = 0;          // what the CPU backend uses (QLS_THREADS or the cores)
    std::int64_t host_memory = 0;      // MemTotal
    std::int64_t host_available = 0;   // MemAvailable
    std::string blas;          // OpenBLAS's own configuration string
    std::vector<DeviceKindReport> devices;
};

// Everything above for this process; `program` names it ("qlora 0.9.0").
SystemReport system_report(const std::string& program);

// Plain text, one fact per line, as `qlora doctor` prints it.
std::string format_system_report(const SystemReport& r);
nlohmann::json system_report_json(const SystemReport& r);

}  // namespace qls
