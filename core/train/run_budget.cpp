#include "core/train/run_budget.h"

#include "core/backend/memory_accountant.h"

namespace qls {

RunBudget run_budget(std::int64_t set_bytes, const DeviceSpec& device) {
    if (set_bytes > 0)
        return {RunBudget::Source::Set, set_bytes, str_cat("budget ", format_bytes(set_bytes), " (set)")};
    const std::optional<DeviceMemory> memory = device_memory(device);
    if (!memory) return {RunBudget::Source::None, 0, "no device budget: the CPU, and no size set"};
    return {RunBudget::Source::DeviceFree, memory->free_bytes,
            str_cat(format_bytes(memory->free_bytes), " free of ", format_bytes(memory->total_bytes), " on ",
                    memory->device)};
}

std::string_view run_budget_source_name(RunBudget::Source source) {
    switch (source) {
        case RunBudget::Source::None:
            return "none";
        case RunBudget::Source::Set:
            return "set";
        case RunBudget::Source::DeviceFree:
            return "device_free";
    }
    return "none";
}

}  // namespace qls
