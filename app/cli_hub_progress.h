// Progress of a Hub transfer on the terminal: the file and its bytes on one line of stderr,
// shown only on a terminal so that redirected output stays clean.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <string>

#include "app/cli_format.h"
#include "core/hub/hub_download.h"

namespace qls::cli {

inline HubProgressFn terminal_hub_progress() {
    if (!isatty(fileno(stderr))) return {};
    return [](const std::string& file, std::uint64_t done, std::uint64_t total) {
        std::fprintf(stderr, "\r\033[K%s %s / %s", file.c_str(), format_bytes(done).c_str(),
                     format_bytes(total).c_str());
        if (done == total) std::fprintf(stderr, "\r\033[K");
        return true;
    };
}

}  // namespace qls::cli
