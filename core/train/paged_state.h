// AdamW's m and v for every trainable element, in fixed-size pages of which only a budgeted
// number stay on the device (formats.md §4, "paged_adamw_32bit"). bitsandbytes lets the CUDA
// driver fault unified-memory pages in and out; we move pages ourselves, least recently used
// first, on the copy stream without host waits, so the trainer can report each move and the
// CPU backend can simulate a small budget.
//
// E elements per page. Page k holds elements [k·E, (k+1)·E) of the concatenation of all
// parameters: m in its first half, v in its second, so one resident page serves an
// elementwise update of that element range. A parameter may span pages and a page may hold
// the tail of one parameter and the head of the next.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/train/train_events.h"

namespace qls {

struct PagingConfig {
    std::int64_t page_bytes = 1 << 20;     // a multiple of 8 (m and v halves of fp32)
    std::int64_t device_budget_bytes = 0;  // 0 = no limit: every page stays resident

    void validate() const;  // ConfigError naming the field
};

// What the memory estimator needs before anything is allocated.
std::int64_t optimizer_page_count(std::int64_t param_count, std::int64_t page_bytes);
// Device bytes (Usage::OptimizerState) of the resident pages.
std::int64_t optimizer_device_bytes(std::int64_t param_count, std::int64_t budget_bytes,
                                    std::int64_t page_bytes);
// Host bytes (Usage::PagedHost): every page's home, or 0 when all pages fit the budget.
std::int64_t optimizer_host_bytes(std::int64_t param_count, std::int64_t budget_bytes,
                                  std::int64_t page_bytes);

class PagedState {
public:
    // Zero state for `elements` fp32 elements of m and of v. Pages 0..capacity-1 start on the
    // device and the rest on the host, with no paging events.
    PagedState(Backend& backend, std::int64_t elements, const PagingConfig& config);

    std::int64_t elements() const { return m_elements; }
    std::int64_t page_bytes() const { return m_page_bytes; }
    std::int64_t elements_per_page() const { return m_page_elements; }
    std::int64_t page_count() const { return static_cast<std::int64_t>(m_page_slot.size()); }
    std::int64_t capacity() const { return static_cast<std::int64_t>(m_slot_page.size()); }
    bool is_resident(std::int64_t page) const;

    // m and v of elements [begin, begin + count), all inside one resident page.
    struct Slice {
        std::int64_t begin = 0;
        Tensor m, v;  // F32 (count)
    };
    // Calls fn on consecutive resident slices covering [begin, begin + count), fetching
    // missing pages (and evicting others) first. `what` names the parameter in the events.
    void update(std::int64_t begin, std::int64_t count, std::int64_t step, const std::string& what,
                const std::function<void(const Slice&)>& fn);

    // Full host copies of m and v for [begin, begin + m.size()), wherever the pages are;
    // neither moves pages nor logs events.
    void read(std::int64_t begin, std::span<float> m, std::span<float> v);
    void write(std::int64_t begin, std::span<const float> m, std::span<const float> v);

    // Event times count from here (default: construction).
    void set_time_origin(std::chrono::steady_clock::time_point origin) { m_origin = origin; }
    // The moves since the last drain, oldest first.
    std::vector<PagingEvent> drain_events();

private:
    // The part of an element range that lies in one page.
    struct Part {
        std::int64_t page, slot;  // slot -1: the page is on the host
        std::int64_t offset;      // first element inside the page
        std::int64_t pos, count;  // position in the range, element count
    };
    void for_each_part(std::int64_t begin, std::int64_t count,
                       const std::function<void(const Part&)>& fn) const;
    void make_resident(std::int64_t first, std::int64_t last, std::int64_t step, const std::string& what);
    std::span<std::byte> host_page(std::int64_t page) const;
    std::byte* host_half(std::int64_t page, int half, std::int64_t offset) const;
    Tensor slot_page(std::int64_t slot) const;
    Tensor slot_half(std::int64_t slot, int half, std::int64_t offset, std::int64_t count) const;
    void log(std::int64_t step, PagingEvent::Direction d, std::int64_t pages, std::string reason);

    Backend& m_backend;
    std::int64_t m_elements = 0;
    std::int64_t m_page_bytes = 0;
    std::int64_t m_page_elements = 0;
    Buffer m_device;  // capacity × page_bytes, Usage::OptimizerState
    Buffer m_host;    // page_count × page_bytes, Usage::PagedHost; empty when all pages fit
    std::vector<std::int64_t> m_page_slot;   // [page] -> slot, or -1 when on the host
    std::vector<std::int64_t> m_slot_page;   // [slot] -> page
    std::vector<std::uint64_t> m_slot_used;  // [slot] -> tick of last use (LRU)
    std::uint64_t m_tick = 0;
    std::chrono::steady_clock::time_point m_origin = std::chrono::steady_clock::now();
    std::vector<PagingEvent> m_events;
};

}  // namespace qls
