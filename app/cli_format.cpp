#include "app/cli_format.h"

#include <cstdio>

namespace qls::cli {

std::string format_bytes(std::uint64_t bytes) {
    static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = double(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, kUnits[u]);
    return buf;
}

std::string format_count(std::int64_t n) {
    char buf[32];
    const double v = double(n);
    if (n >= 1'000'000'000) std::snprintf(buf, sizeof buf, "%.2f B", v / 1e9);
    else if (n >= 1'000'000) std::snprintf(buf, sizeof buf, "%.1f M", v / 1e6);
    else if (n >= 10'000) std::snprintf(buf, sizeof buf, "%.1f K", v / 1e3);
    else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
    return buf;
}

}  // namespace qls::cli
