#include "core/backend/buffer.h"

#include <algorithm>

#include "core/backend/backend.h"
#include "core/util/error.h"

namespace qls {

Buffer& Buffer::operator=(Buffer&& o) noexcept {
    if (this != &o) {
        release();
        m_owner = o.m_owner;
        m_data = o.m_data;
        m_bytes = o.m_bytes;
        m_usage = o.m_usage;
        o.m_owner = nullptr;
        o.m_data = nullptr;
        o.m_bytes = 0;
    }
    return *this;
}

Buffer::~Buffer() { release(); }

void Buffer::release() noexcept {
    if (m_owner && m_data) {
        m_owner->free_impl(m_data, m_usage);
        m_owner->memory().on_free(m_usage, static_cast<std::int64_t>(m_bytes));
    }
    m_owner = nullptr;
    m_data = nullptr;
    m_bytes = 0;
}

Tensor Buffer::view(std::size_t offset, DType dtype, Shape shape) const {
    Tensor t{m_data + offset, dtype, std::move(shape)};
    QLS_ASSERT(offset + t.bytes() <= m_bytes, "view ", describe(t), " at ", offset,
               " past a buffer of ", m_bytes, " bytes");
    return t;
}

Tensor Buffer::whole(DType dtype) const {
    return view(0, dtype, Shape{static_cast<std::int64_t>(m_bytes / dtype_size(dtype))});
}

std::size_t BufferPlan::add(std::string name, DType dtype, Shape shape) {
    constexpr std::size_t kAlign = 256;
    std::size_t offset = (m_total + kAlign - 1) / kAlign * kAlign;
    std::size_t bytes = static_cast<std::size_t>(qls::numel(shape)) * dtype_size(dtype);
    m_entries.push_back({std::move(name), dtype, std::move(shape), offset});
    m_total = offset + bytes;
    return m_entries.size() - 1;
}

void BufferPlan::begin_phases() {
    QLS_ASSERT(!m_in_phases, "begin_phases: already laying out phases");
    m_in_phases = true;
    m_phase_start = m_phase_end = m_total;
}

void BufferPlan::next_phase() {
    QLS_ASSERT(m_in_phases, "next_phase outside begin_phases/end_phases");
    m_phase_end = std::max(m_phase_end, m_total);
    m_total = m_phase_start;
}

void BufferPlan::end_phases() {
    QLS_ASSERT(m_in_phases, "end_phases without begin_phases");
    m_total = std::max(m_phase_end, m_total);
    m_in_phases = false;
}

Buffer BufferPlan::allocate(Backend& backend, Usage usage, const std::string& what) const {
    QLS_ASSERT(!m_in_phases, "allocate: phases not ended");
    return backend.allocate(m_total, usage, what);
}

Tensor BufferPlan::tensor(const Buffer& buffer, std::size_t index) const {
    const Entry& e = m_entries.at(index);
    return buffer.view(e.offset, e.dtype, e.shape);
}

}  // namespace qls
