#include "core/backend/staged_upload.h"

#include <algorithm>
#include <cstring>

#include "core/util/error.h"

namespace qls {

StagedUpload::StagedUpload(Backend& backend, std::size_t largest, std::size_t slot_bytes)
    : m_backend(backend), m_slot_bytes(std::max<std::size_t>(1, std::min(largest, slot_bytes))) {}

StagedUpload::~StagedUpload() {
    try {
        for (const Event& e : m_slot_free)
            if (e.id != 0) m_backend.wait_host(e);
    } catch (const std::exception&) {
        // A device that failed a transfer fails this wait too; freeing the slots then waits.
    }
}

void StagedUpload::upload(const Tensor& dst, std::span<const std::byte> src) {
    QLS_ASSERT(dst.contiguous() && src.size() == dst.bytes(), "staged upload of ", src.size(), " bytes into ",
               describe(dst));
    if (!m_backend.stages_host_uploads()) {
        m_backend.copy_from_host(dst, src);
        return;
    }
    if (!m_slots.data()) m_slots = m_backend.allocate(2 * m_slot_bytes, Usage::PagedHost, "upload staging");
    m_backend.wait(Stream::Copy, m_backend.record(Stream::Compute));
    for (std::size_t at = 0; at < src.size(); at += m_slot_bytes) {
        const std::size_t n = std::min(m_slot_bytes, src.size() - at);
        const int slot = m_next;
        m_next ^= 1;
        if (m_slot_free[slot].id != 0) m_backend.wait_host(m_slot_free[slot]);  // its last transfer read it
        std::byte* staging = m_slots.data() + static_cast<std::size_t>(slot) * m_slot_bytes;
        std::memcpy(staging, src.data() + at, n);
        const Tensor part{dst.data + at, DType::U8, {static_cast<std::int64_t>(n)}};
        m_backend.copy_from_host_async(Stream::Copy, part, {staging, n});
        m_slot_free[slot] = m_backend.record(Stream::Copy);
        ++m_transfers;
    }
    m_backend.wait(Stream::Compute, m_backend.record(Stream::Copy));
}

}  // namespace qls
