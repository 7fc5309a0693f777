#include "core/train/paged_state.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace qls {

namespace {
constexpr std::int64_t kStateBytes = 2 * sizeof(float);  // m and v per element
constexpr std::int64_t kMaxPageBytes = std::int64_t{1} << 30;

std::int64_t capacity_for(std::int64_t pages, std::int64_t budget, std::int64_t page_bytes) {
    return budget == 0 ? pages : std::min(pages, budget / page_bytes);
}

// The name of the range holding `element`.
const std::string& range_at(std::span<const PagedState::Range> ranges, std::int64_t element) {
    return std::ranges::partition_point(ranges, [&](const PagedState::Range& r) {
               return r.begin + r.count <= element;
           })->name;
}
}  // namespace

ConfigProblems PagingConfig::problems() const {
    ConfigProblems p("optim.");
    p.require(page_bytes > 0 && page_bytes % kStateBytes == 0 && page_bytes <= kMaxPageBytes, "page_bytes",
              "must be a positive multiple of ", kStateBytes, " bytes up to 1 GiB; got ", page_bytes);
    p.require(device_budget_bytes == 0 || device_budget_bytes >= page_bytes, "optimizer_budget_bytes",
              "must be 0 (no limit) or at least one page (", page_bytes, " bytes); got ", device_budget_bytes);
    return p;
}

void PagingConfig::validate() const { problems().throw_if_any(); }

std::int64_t optimizer_page_count(std::int64_t param_count, std::int64_t page_bytes) {
    const std::int64_t per_page = page_bytes / kStateBytes;
    return (param_count + per_page - 1) / per_page;
}

std::int64_t optimizer_device_bytes(std::int64_t param_count, std::int64_t budget_bytes,
                                    std::int64_t page_bytes) {
    const std::int64_t pages = optimizer_page_count(param_count, page_bytes);
    return capacity_for(pages, budget_bytes, page_bytes) * page_bytes;
}

std::int64_t optimizer_host_bytes(std::int64_t param_count, std::int64_t budget_bytes,
                                  std::int64_t page_bytes) {
    const std::int64_t pages = optimizer_page_count(param_count, page_bytes);
    return capacity_for(pages, budget_bytes, page_bytes) < pages ? pages * page_bytes : 0;
}

PagedState::PagedState(Backend& backend, std::int64_t elements, const PagingConfig& config)
    : m_backend(backend), m_elements(elements) {
    config.validate();
    QLS_ASSERT(elements >= 0, "paged state of ", elements, " elements");
    m_page_bytes = config.page_bytes;
    m_page_elements = m_page_bytes / kStateBytes;
    const std::int64_t pages = optimizer_page_count(elements, m_page_bytes);
    const std::int64_t capacity = capacity_for(pages, config.device_budget_bytes, m_page_bytes);
    m_fixed = capacity < pages ? capacity - std::min<std::int64_t>(2, capacity) : pages;
    m_page_slot.assign(static_cast<std::size_t>(pages), -1);
    m_slot_page.resize(static_cast<std::size_t>(capacity));
    if (capacity == 0) return;
    m_device = backend.allocate(
        static_cast<std::size_t>(capacity * m_page_bytes), Usage::OptimizerState,
        str_cat("optimizer state (", capacity, " of ", pages, " pages of ", format_bytes(m_page_bytes), ")"));
    backend.fill_zero(m_device.whole(DType::U8));
    for (std::int64_t s = 0; s < capacity; ++s) {
        m_page_slot[static_cast<std::size_t>(s)] = s;
        m_slot_page[static_cast<std::size_t>(s)] = s;
    }
    if (capacity < pages) {
        m_host = backend.allocate(static_cast<std::size_t>(pages * m_page_bytes), Usage::PagedHost,
                                  "optimizer state pages on the host");
        // PagedHost memory is host memory on every backend (pinned on CUDA).
        std::memset(m_host.data(), 0, m_host.bytes());
    }
}

bool PagedState::is_resident(std::int64_t page) const {
    return m_page_slot.at(static_cast<std::size_t>(page)) >= 0;
}

void PagedState::update(std::int64_t step, std::span<const Range> ranges,
                        const std::function<void(std::size_t, const Slice&)>& fn) {
    std::int64_t at = 0;
    for (const Range& r : ranges) {
        QLS_ASSERT(r.begin == at && r.count >= 0, "paged state update: range '", r.name, "' [", r.begin,
                   ", +", r.count, ") does not start at element ", at);
        at += r.count;
    }
    QLS_ASSERT(at == m_elements, "paged state update: ranges cover ", at, " of ", m_elements, " elements");
    std::size_t first = 0;  // the first range that reaches into the current page
    for (std::int64_t page = 0; page < page_count(); ++page) {
        if (page >= m_fixed) enter_streamed(page, step, ranges);
        const std::int64_t page_begin = page * m_page_elements;
        const std::int64_t page_end = std::min(m_elements, page_begin + m_page_elements);
        const std::int64_t slot = m_page_slot[static_cast<std::size_t>(page)];
        for (std::size_t i = first; i < ranges.size() && ranges[i].begin < page_end; ++i) {
            const std::int64_t lo = std::max(ranges[i].begin, page_begin);
            const std::int64_t hi = std::min(ranges[i].begin + ranges[i].count, page_end);
            const std::int64_t off = lo - page_begin;
            if (lo < hi) fn(i, {lo, slot_half(slot, 0, off, hi - lo), slot_half(slot, 1, off, hi - lo)});
        }
        while (first < ranges.size() && ranges[first].begin + ranges[first].count <= page_end) ++first;
    }
}

void PagedState::enter_streamed(std::int64_t page, std::int64_t step, std::span<const Range> ranges) {
    // With two windows the page is there already, placed at construction or prefetched while
    // the previous page updated; a single window cannot fetch ahead.
    if (!is_resident(page))
        swap_window(0, page, step, ranges,
                    str_cat("fetch page ", page, " into window 0 for ",
                            range_at(ranges, page * m_page_elements)));
    const std::int64_t window = m_page_slot[static_cast<std::size_t>(page)] - m_fixed;
    m_backend.wait(Stream::Compute, std::exchange(m_fetched[static_cast<std::size_t>(window)], Event{}));
    if (windows() < 2) return;
    const bool wraps = page + 1 == page_count();
    const std::int64_t next = wraps ? m_fixed : page + 1;
    if (!is_resident(next))
        swap_window(1 - window, next, step, ranges,
                    str_cat("prefetch page ", next, " into window ", 1 - window, " for ",
                            range_at(ranges, next * m_page_elements), wraps ? " of the next step" : ""));
}

void PagedState::swap_window(std::int64_t window, std::int64_t page, std::int64_t step,
                             std::span<const Range> ranges, std::string fetch_reason) {
    const std::int64_t slot = m_fixed + window;
    const std::int64_t old = m_slot_page[static_cast<std::size_t>(slot)];
    // The copy stream starts after the updates issued so far, which may still be writing the
    // window's page; the write-back and the fetch are then ordered by the stream, and the
    // compute stream waits for the fetch before the page's first update (enter_streamed).
    m_backend.wait(Stream::Copy, m_backend.record(Stream::Compute));
    m_backend.copy_to_host_async(Stream::Copy, slot_page(slot), host_page(old));
    m_page_slot[static_cast<std::size_t>(old)] = -1;
    const std::int64_t old_last = std::min(m_elements, (old + 1) * m_page_elements) - 1;
    log(step, PagingEvent::Direction::ToHost,
        str_cat("write back page ", old, " from window ", window, " after ", range_at(ranges, old_last)));
    m_backend.copy_from_host_async(Stream::Copy, slot_page(slot), host_page(page));
    m_page_slot[static_cast<std::size_t>(page)] = slot;
    m_slot_page[static_cast<std::size_t>(slot)] = page;
    m_fetched[static_cast<std::size_t>(window)] = m_backend.record(Stream::Copy);
    log(step, PagingEvent::Direction::ToDevice, std::move(fetch_reason));
}

void PagedState::for_each_part(std::int64_t begin, std::int64_t count,
                               const std::function<void(const Part&)>& fn) const {
    QLS_ASSERT(begin >= 0 && count >= 0 && begin + count <= m_elements, "paged state access [", begin, ", +",
               count, ") of ", m_elements);
    for (std::int64_t pos = begin, end = begin + count; pos < end;) {
        const std::int64_t page = pos / m_page_elements;
        const std::int64_t off = pos - page * m_page_elements;
        const std::int64_t n = std::min(end - pos, m_page_elements - off);
        fn({page, m_page_slot[static_cast<std::size_t>(page)], off, pos - begin, n});
        pos += n;
    }
}

void PagedState::read(std::int64_t begin, std::span<float> m, std::span<float> v) {
    QLS_ASSERT(m.size() == v.size(), "paged state read: ", m.size(), " vs ", v.size());
    m_backend.synchronize();  // host pages may still be arriving on the copy stream
    for_each_part(begin, static_cast<std::int64_t>(m.size()), [&](const Part& p) {
        auto dst_m = std::as_writable_bytes(
            m.subspan(static_cast<std::size_t>(p.pos), static_cast<std::size_t>(p.count)));
        auto dst_v = std::as_writable_bytes(
            v.subspan(static_cast<std::size_t>(p.pos), static_cast<std::size_t>(p.count)));
        if (p.slot >= 0) {
            m_backend.copy_to_host(slot_half(p.slot, 0, p.offset, p.count), dst_m);
            m_backend.copy_to_host(slot_half(p.slot, 1, p.offset, p.count), dst_v);
        } else {
            std::memcpy(dst_m.data(), host_half(p.page, 0, p.offset), dst_m.size());
            std::memcpy(dst_v.data(), host_half(p.page, 1, p.offset), dst_v.size());
        }
    });
}

void PagedState::write(std::int64_t begin, std::span<const float> m, std::span<const float> v) {
    QLS_ASSERT(m.size() == v.size(), "paged state write: ", m.size(), " vs ", v.size());
    m_backend.synchronize();  // the copy stream may still be reading host pages
    for_each_part(begin, static_cast<std::int64_t>(m.size()), [&](const Part& p) {
        auto src_m =
            std::as_bytes(m.subspan(static_cast<std::size_t>(p.pos), static_cast<std::size_t>(p.count)));
        auto src_v =
            std::as_bytes(v.subspan(static_cast<std::size_t>(p.pos), static_cast<std::size_t>(p.count)));
        if (p.slot >= 0) {
            m_backend.copy_from_host(slot_half(p.slot, 0, p.offset, p.count), src_m);
            m_backend.copy_from_host(slot_half(p.slot, 1, p.offset, p.count), src_v);
        } else {
            std::memcpy(host_half(p.page, 0, p.offset), src_m.data(), src_m.size());
            std::memcpy(host_half(p.page, 1, p.offset), src_v.data(), src_v.size());
        }
    });
}

std::vector<PagingEvent> PagedState::drain_events() {
    return std::exchange(m_events, {});
}

std::span<std::byte> PagedState::host_page(std::int64_t page) const {
    return {m_host.data() + page * m_page_bytes, static_cast<std::size_t>(m_page_bytes)};
}

std::byte* PagedState::host_half(std::int64_t page, int half, std::int64_t offset) const {
    return host_page(page).data() + half * (m_page_bytes / 2) +
           offset * static_cast<std::int64_t>(sizeof(float));
}

Tensor PagedState::slot_page(std::int64_t slot) const {
    return m_device.view(static_cast<std::size_t>(slot * m_page_bytes), DType::U8, {m_page_bytes});
}

Tensor PagedState::slot_half(std::int64_t slot, int half, std::int64_t offset, std::int64_t count) const {
    const std::int64_t at =
        slot * m_page_bytes + half * (m_page_bytes / 2) + offset * static_cast<std::int64_t>(sizeof(float));
    return m_device.view(static_cast<std::size_t>(at), DType::F32, {count});
}

void PagedState::log(std::int64_t step, PagingEvent::Direction d, std::string reason) {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_origin).count();
    m_events.push_back({t, step, d, m_page_bytes, 1, std::move(reason)});
}

}  // namespace qls
