// Wall-clock timing for the CLI benchmarks.
#pragma once
#include <algorithm>
#include <chrono>

namespace qls::cli {

// Best of `reps` runs of f, in seconds: the least disturbed run on a shared machine.
template <typename F>
double best_seconds(int reps, F&& f) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
        best = std::min(best, dt.count());
    }
    return best;
}

}  // namespace qls::cli
