#include "core/backend/memory_accountant.h"

#include <cstdio>

namespace qls {

std::string_view usage_name(Usage u) {
    switch (u) {
        case Usage::BaseWeights: return "base weights";
        case Usage::LoraParams: return "LoRA weights";
        case Usage::LoraGrads: return "LoRA gradients";
        case Usage::OptimizerState: return "optimizer state";
        case Usage::Activations: return "activations";
        case Usage::Workspace: return "workspace";
        case Usage::PagedHost: return "paged to host";
    }
    return "?";
}

namespace {
void raise_peak(std::atomic<std::int64_t>& peak, std::int64_t value) {
    std::int64_t seen = peak.load();
    while (value > seen && !peak.compare_exchange_weak(seen, value)) {
    }
}
}  // namespace

void MemoryAccountant::on_allocate(Usage u, std::int64_t bytes, const std::string& what) {
    auto i = static_cast<std::size_t>(u);
    if (usage_on_device(u)) {
        std::int64_t limit = m_limit.load();
        std::int64_t now = m_device_current.fetch_add(bytes) + bytes;
        if (limit > 0 && now > limit) {
            m_device_current.fetch_sub(bytes);
            throw OutOfMemoryError(str_cat(
                "out of device memory allocating ", format_bytes(bytes), " for ", what, " (",
                usage_name(u), "): ", format_bytes(now - bytes), " of ", format_bytes(limit),
                " already in use; lower the micro-batch or sequence length, keep gradient "
                "checkpointing on, or lower the LoRA rank"));
        }
        raise_peak(m_device_peak, now);
    }
    std::int64_t cur = m_current[i].fetch_add(bytes) + bytes;
    raise_peak(m_peak[i], cur);
}

void MemoryAccountant::on_free(Usage u, std::int64_t bytes) noexcept {
    m_current[static_cast<std::size_t>(u)].fetch_sub(bytes);
    if (usage_on_device(u)) m_device_current.fetch_sub(bytes);
}

MemorySnapshot MemoryAccountant::snapshot() const {
    MemorySnapshot s;
    for (std::size_t i = 0; i < kUsageCount; ++i) {
        s.current[i] = m_current[i].load();
        s.peak[i] = m_peak[i].load();
    }
    s.device_current = m_device_current.load();
    s.device_peak = m_device_peak.load();
    return s;
}

std::string format_bytes(std::int64_t bytes) {
    char buf[32];
    double b = static_cast<double>(bytes);
    if (b >= 1024.0 * 1024 * 1024)
        std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024)
        std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
    else if (b >= 1024.0)
        std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
    else
        std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
    return buf;
}

}  // namespace qls
