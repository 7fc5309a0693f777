// qlora doctor [--json]: what to send with a bug report (core/diagnostics/system_report.h):
// this program and its build, the host, and every GPU with its runtime, driver and memory, or
// why none is used.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "app/cli_commands.h"
#include "core/diagnostics/system_report.h"

namespace qls::cli {

const char* const kDoctorUsage =
    "usage: qlora doctor [--json]\n"
    "  The program and how it was built, the OS, CPU, threads, memory and BLAS, then the CUDA\n"
    "  runtime and driver, the GPU architectures this build carries code for, and every GPU\n"
    "  with its compute capability and free memory (or why there is none). Paste it into a bug\n"
    "  report.\n"
    "  --json           the same as JSON\n";

int run_doctor(const std::vector<std::string>& args) {
    const Args a(args, {"json"}, {});
    a.expect_positional(0);
    const SystemReport r = system_report(std::string("qlora ") + QLS_VERSION);
    if (a.flag("json"))
        std::printf("%s\n", system_report_json(r).dump(2).c_str());
    else
        std::fputs(format_system_report(r).c_str(), stdout);
    return 0;
}

}  // namespace qls::cli
