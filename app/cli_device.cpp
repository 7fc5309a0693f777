#include "app/cli_device.h"

#include <cstdio>

namespace qls::cli {

BackendChoice choose_backend(const std::string& device) {
    BackendChoice c = make_backend(parse_device(device));
    std::fprintf(stderr, "device: %s (%s)\n", c.device.c_str(), c.reason.c_str());
    return c;
}

}  // namespace qls::cli
