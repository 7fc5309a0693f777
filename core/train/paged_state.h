// AdamW's m and v for every trainable element, in fixed-size pages of which only a budgeted
// number live on the device (formats.md §4, "paged_adamw_32bit"). bitsandbytes lets the CUDA
// driver fault unified-memory pages in on demand. The optimizer walks every page in the same
// order each step, and under that cyclic walk demand paging with LRU eviction misses every
// page once the state exceeds the budget. So we plan the moves instead, on the copy stream
// without host waits, and report each one; the CPU backend simulates a small budget.
//
// E elements per page. Page k holds elements [k·E, (k+1)·E) of the concatenation of all
// parameters: m in its first half, v in its second, so one resident page serves an
// elementwise update of that element range. A parameter may span pages and a page may hold
// the tail of one parameter and the head of the next.
//
// C pages fit the budget, P pages hold the state. When P <= C every page stays resident.
// Otherwise pages [0, R) stay resident for good and pages [R, P) stream through two windows
// of one page each, R = C - 2: while the page in one window updates, the other window writes
// its page back and prefetches the next (after the last page, page R for the next step, so
// that move overlaps the next forward and backward). Each streamed page then moves once each
// way per step, 2·(P - R) pages, where LRU moved all P pages each way.
// Windows of W pages would leave R = C - 2W, 4·(W - 1) pages more per step, only to make each
// move W pages long; page_bytes already sets a move's length (1 MiB by default, where
// host-device copies run near full bandwidth), so W = 1. With C = 1 the one slot is a single
// window: each page is fetched just before its update, with nothing to overlap.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/train/train_events.h"
#include "core/util/config_problems.h"

namespace qls {

struct PagingConfig {
    std::int64_t page_bytes = 1 << 20;     // a multiple of 8 (m and v halves of fp32)
    std::int64_t device_budget_bytes = 0;  // 0 = no limit: every page stays resident

    ConfigProblems problems() const;  // under "optim.<run.json key>"
    void validate() const;            // ConfigError with every problem
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
    // device (the fixed pages, then one in each window) and the rest on the host, with no
    // paging events.
    PagedState(Backend& backend, std::int64_t elements, const PagingConfig& config);

    std::int64_t elements() const { return m_elements; }
    std::int64_t page_bytes() const { return m_page_bytes; }
    std::int64_t elements_per_page() const { return m_page_elements; }
    std::int64_t page_count() const { return static_cast<std::int64_t>(m_page_slot.size()); }
    std::int64_t capacity() const { return static_cast<std::int64_t>(m_slot_page.size()); }
    // Pages [0, fixed_pages()) never move (R above; page_count() when every page fits).
    std::int64_t fixed_pages() const { return m_fixed; }
    bool is_resident(std::int64_t page) const;

    // One parameter's elements in the state; its name labels the paging events.
    struct Range {
        std::string name;
        std::int64_t begin = 0, count = 0;
    };
    // m and v of elements [begin, begin + count), all inside one resident page.
    struct Slice {
        std::int64_t begin = 0;
        Tensor m, v;  // F32 (count)
    };
    // One optimizer step over the whole state: `ranges` tile [0, elements()) in order, and fn
    // gets (range index, slice) for each part of a range inside one page, in page order, while
    // the streamed pages move around the calls without a host wait. `step` labels the events.
    void update(std::int64_t step, std::span<const Range> ranges,
                const std::function<void(std::size_t, const Slice&)>& fn);

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
    std::int64_t windows() const { return capacity() - m_fixed; }
    // Before the first update from a streamed page: brings it in if no prefetch could, makes
    // the compute stream wait for its fetch, and prefetches the next streamed page.
    void enter_streamed(std::int64_t page, std::int64_t step, std::span<const Range> ranges);
    // On the copy stream: writes the window's page back, then fetches `page` into it.
    void swap_window(std::int64_t window, std::int64_t page, std::int64_t step, std::span<const Range> ranges,
                     std::string fetch_reason);
    std::span<std::byte> host_page(std::int64_t page) const;
    std::byte* host_half(std::int64_t page, int half, std::int64_t offset) const;
    Tensor slot_page(std::int64_t slot) const;
    Tensor slot_half(std::int64_t slot, int half, std::int64_t offset, std::int64_t count) const;
    void log(std::int64_t step, PagingEvent::Direction d, std::string reason);

    Backend& m_backend;
    std::int64_t m_elements = 0;
    std::int64_t m_page_bytes = 0;
    std::int64_t m_page_elements = 0;
    std::int64_t m_fixed = 0;  // R
    Buffer m_device;  // capacity × page_bytes, Usage::OptimizerState; windows after the fixed pages
    Buffer m_host;    // page_count × page_bytes, Usage::PagedHost; empty when all pages fit
    std::vector<std::int64_t> m_page_slot;  // [page] -> slot, or -1 when on the host
    std::vector<std::int64_t> m_slot_page;  // [slot] -> page
    std::array<Event, 2> m_fetched{};       // [window] -> its last fetch, not yet waited for
    std::chrono::steady_clock::time_point m_origin = std::chrono::steady_clock::now();
    std::vector<PagingEvent> m_events;
};

}  // namespace qls
