// A one-line progress counter on stderr for long CLI commands, shown only on a terminal so
// that redirected output stays clean.
#pragma once
#include <cstdio>
#include <string>

#include <unistd.h>

#include "core/util/progress.h"

namespace qls::cli {

inline ProgressFn terminal_progress(std::string what) {
    if (!isatty(fileno(stderr))) return {};
    return [what = std::move(what)](std::size_t done, std::size_t total) {
        std::fprintf(stderr, "\r%s %zu/%zu", what.c_str(), done, total);
        if (done == total) std::fprintf(stderr, "\r\033[K");
        return true;
    };
}

}  // namespace qls::cli
