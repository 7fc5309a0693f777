// Current and peak bytes per Usage, safe to read from any thread while the trainer allocates.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "core/backend/usage.h"
#include "core/util/error.h"

namespace qls {

// Raised when an allocation does not fit the device (or the simulated budget). The message
// names what was being allocated and what to change; a run that hits it stays resumable.
class OutOfMemoryError : public Error { using Error::Error; };

struct MemorySnapshot {
    std::array<std::int64_t, kUsageCount> current{};
    std::array<std::int64_t, kUsageCount> peak{};
    std::int64_t device_current = 0;  // sum over device usages
    std::int64_t device_peak = 0;     // peak of that sum (not the sum of peaks)

    std::int64_t current_of(Usage u) const { return current[static_cast<std::size_t>(u)]; }
    std::int64_t peak_of(Usage u) const { return peak[static_cast<std::size_t>(u)]; }
};

class MemoryAccountant {
public:
    // 0 = unlimited. Allocations that would take device bytes past the limit throw
    // OutOfMemoryError before anything is allocated.
    void set_device_limit(std::int64_t bytes) { m_limit.store(bytes); }
    std::int64_t device_limit() const { return m_limit.load(); }

    void on_allocate(Usage u, std::int64_t bytes, const std::string& what);
    void on_free(Usage u, std::int64_t bytes) noexcept;
    MemorySnapshot snapshot() const;

private:
    std::array<std::atomic<std::int64_t>, kUsageCount> m_current{};
    std::array<std::atomic<std::int64_t>, kUsageCount> m_peak{};
    std::atomic<std::int64_t> m_device_current{0};
    std::atomic<std::int64_t> m_device_peak{0};
    std::atomic<std::int64_t> m_limit{0};
};

std::string format_bytes(std::int64_t bytes);  // "1.50 GiB", "12.0 MiB", "512 B"

}  // namespace qls
