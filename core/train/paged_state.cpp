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
}  // namespace

void PagingConfig::validate() const {
    QLS_CHECK(ConfigError, page_bytes > 0 && page_bytes % kStateBytes == 0 && page_bytes <= kMaxPageBytes,
              "optimizer setting 'page_bytes' must be a positive multiple of ", kStateBytes,
              " up to 1 GiB, got ", page_bytes);
    QLS_CHECK(ConfigError, device_budget_bytes == 0 || device_budget_bytes >= page_bytes,
              "optimizer setting 'device_budget_bytes' must be 0 (no limit) or at least one page (",
              page_bytes, " bytes), got ", device_budget_bytes);
}

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
    m_page_slot.assign(static_cast<std::size_t>(pages), -1);
    m_slot_page.resize(static_cast<std::size_t>(capacity));
    m_slot_used.resize(static_cast<std::size_t>(capacity));
    if (capacity == 0) return;
    m_device = backend.allocate(
        static_cast<std::size_t>(capacity * m_page_bytes), Usage::OptimizerState,
        str_cat("optimizer state (", capacity, " of ", pages, " pages of ", format_bytes(m_page_bytes), ")"));
    backend.fill_zero(m_device.whole(DType::U8));
    for (std::int64_t s = 0; s < capacity; ++s) {
        m_page_slot[static_cast<std::size_t>(s)] = s;
        m_slot_page[static_cast<std::size_t>(s)] = s;
        m_slot_used[static_cast<std::size_t>(s)] = static_cast<std::uint64_t>(s) + 1;
    }
    m_tick = static_cast<std::uint64_t>(capacity);
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

void PagedState::update(std::int64_t begin, std::int64_t count, std::int64_t step, const std::string& what,
                        const std::function<void(const Slice&)>& fn) {
    QLS_ASSERT(begin >= 0 && count >= 0 && begin + count <= m_elements, "paged state update [", begin, ", +",
               count, ") of ", m_elements);
    if (count == 0) return;
    const std::int64_t end = begin + count;
    const std::int64_t first = begin / m_page_elements, last = (end - 1) / m_page_elements;
    // A parameter wider than the budget goes through in windows of `capacity` pages.
    for (std::int64_t w = first; w <= last; w += capacity()) {
        const std::int64_t wl = std::min(last, w + capacity() - 1);
        make_resident(w, wl, step, what);
        for (std::int64_t page = w; page <= wl; ++page) {
            const std::int64_t lo = std::max(begin, page * m_page_elements);
            const std::int64_t hi = std::min(end, (page + 1) * m_page_elements);
            const std::int64_t slot = m_page_slot[static_cast<std::size_t>(page)];
            m_slot_used[static_cast<std::size_t>(slot)] = ++m_tick;
            const std::int64_t off = lo - page * m_page_elements;
            fn({lo, slot_half(slot, 0, off, hi - lo), slot_half(slot, 1, off, hi - lo)});
        }
    }
}

void PagedState::make_resident(std::int64_t first, std::int64_t last, std::int64_t step,
                               const std::string& what) {
    std::vector<std::int64_t> missing;
    for (std::int64_t p = first; p <= last; ++p)
        if (!is_resident(p)) missing.push_back(p);
    if (missing.empty()) return;
    std::vector<std::int64_t> candidates;  // slots whose pages the window does not need
    for (std::int64_t s = 0; s < capacity(); ++s) {
        const std::int64_t p = m_slot_page[static_cast<std::size_t>(s)];
        if (p < first || p > last) candidates.push_back(s);
    }
    QLS_ASSERT(candidates.size() >= missing.size(), "paging window of ", last - first + 1,
               " pages exceeds capacity ", capacity());
    const auto n = static_cast<std::ptrdiff_t>(missing.size());
    std::partial_sort(
        candidates.begin(), candidates.begin() + n, candidates.end(), [this](std::int64_t a, std::int64_t b) {
            return m_slot_used[static_cast<std::size_t>(a)] < m_slot_used[static_cast<std::size_t>(b)];
        });
    // Moves run on the copy stream without a host wait: the copy stream starts after the
    // updates issued so far (they may still be writing the evicted pages), and updates issued
    // next start after the fetches. Write-back and fetch of one slot are ordered by the stream.
    m_backend.wait(Stream::Copy, m_backend.record(Stream::Compute));
    for (std::ptrdiff_t i = 0; i < n; ++i) {  // write back: the state changed since the fetch
        const std::int64_t slot = candidates[static_cast<std::size_t>(i)];
        const std::int64_t page = m_slot_page[static_cast<std::size_t>(slot)];
        m_backend.copy_to_host_async(Stream::Copy, slot_page(slot), host_page(page));
        m_page_slot[static_cast<std::size_t>(page)] = -1;
    }
    log(step, PagingEvent::Direction::ToHost, n,
        str_cat("evict (capacity ", capacity(), " pages) for update of ", what));
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        const std::int64_t slot = candidates[static_cast<std::size_t>(i)];
        const std::int64_t page = missing[static_cast<std::size_t>(i)];
        m_backend.copy_from_host_async(Stream::Copy, slot_page(slot), host_page(page));
        m_page_slot[static_cast<std::size_t>(page)] = slot;
        m_slot_page[static_cast<std::size_t>(slot)] = page;
    }
    m_backend.wait(Stream::Compute, m_backend.record(Stream::Copy));
    log(step, PagingEvent::Direction::ToDevice, n, "fetch for update of " + what);
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

void PagedState::log(std::int64_t step, PagingEvent::Direction d, std::int64_t pages, std::string reason) {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_origin).count();
    m_events.push_back({t, step, d, pages * m_page_bytes, pages, std::move(reason)});
}

}  // namespace qls
