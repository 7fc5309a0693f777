// Long operations (loading, quantizing, inspecting) report progress through this callback;
// returning false asks them to stop, and they throw Cancelled at the next safe point.
#pragma once
#include <cstddef>
#include <functional>

#include "core/util/error.h"

namespace qls {

using ProgressFn = std::function<bool(std::size_t done, std::size_t total)>;

class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled") {}
};

// Call progress (if any); throw Cancelled when it says stop.
inline void report_progress(const ProgressFn& progress, std::size_t done, std::size_t total) {
    if (progress && !progress(done, total)) throw Cancelled();
}

}  // namespace qls
