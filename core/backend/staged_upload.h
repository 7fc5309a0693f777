// Host bytes (a tensor of a memory-mapped checkpoint, as the loader holds it) into device memory
// through two pinned staging slots. While the copy stream moves one slot to the device, the host
// fills the other from the file: reading the file and the transfer overlap, and the driver never
// stages pageable memory itself (on CUDA a synchronous copy through its own small buffer). The
// host waits only before refilling a slot whose transfer is still running. Work issued on the
// compute stream after upload() sees the bytes, and a transfer never overtakes compute work
// issued before it that still reads the destination (a staging buffer reused weight after
// weight). A backend whose device is host memory (the CPU) is copied to directly.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/backend/backend.h"
#include "core/backend/buffer.h"

namespace qls {

class StagedUpload {
public:
    static constexpr std::size_t kSlotBytes = std::size_t{16} << 20;

    // Each slot holds min(slot_bytes, largest) bytes: `largest` is the biggest upload to come, so
    // a small model takes no more pinned memory than it needs. Allocated on the first upload
    // that stages, as Usage::PagedHost (pinned host memory on CUDA).
    StagedUpload(Backend& backend, std::size_t largest, std::size_t slot_bytes = kSlotBytes);
    StagedUpload(const StagedUpload&) = delete;
    StagedUpload& operator=(const StagedUpload&) = delete;
    ~StagedUpload();  // waits for the transfers still reading the slots

    // `dst` contiguous, src.size() == dst.bytes(); `src` may change as soon as this returns.
    void upload(const Tensor& dst, std::span<const std::byte> src);
    // Slot transfers so far: a backend that stages moves every byte through the slots.
    std::int64_t transfers() const { return m_transfers; }

private:
    Backend& m_backend;
    std::size_t m_slot_bytes;
    Buffer m_slots;                      // two slots of m_slot_bytes
    std::array<Event, 2> m_slot_free{};  // the transfer last reading each slot
    int m_next = 0;
    std::int64_t m_transfers = 0;
};

}  // namespace qls
