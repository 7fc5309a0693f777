// One backend allocation with its Usage, move-only; freed (and un-accounted) on destruction.
// Model code takes one Buffer per category and carves it into named Tensors (BufferPlan).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/backend/tensor.h"
#include "core/backend/usage.h"

namespace qls {

class Backend;

class Buffer {
public:
    Buffer() = default;
    Buffer(Backend* owner, std::byte* data, std::size_t bytes, Usage usage)
        : m_owner(owner), m_data(data), m_bytes(bytes), m_usage(usage) {}
    Buffer(Buffer&& o) noexcept { *this = std::move(o); }
    Buffer& operator=(Buffer&& o) noexcept;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer();

    std::byte* data() const { return m_data; }
    std::size_t bytes() const { return m_bytes; }
    Usage usage() const { return m_usage; }
    Tensor view(std::size_t offset, DType dtype, Shape shape) const;
    Tensor whole(DType dtype) const;  // the buffer as a 1-D tensor of dtype

private:
    void release() noexcept;
    Backend* m_owner = nullptr;
    std::byte* m_data = nullptr;
    std::size_t m_bytes = 0;
    Usage m_usage = Usage::Workspace;
};

// Lays out named tensors in one allocation, each aligned to 256 bytes (what cuBLAS and
// vectorized kernels like).
class BufferPlan {
public:
    // Returns the index to look the tensor up after allocation.
    std::size_t add(std::string name, DType dtype, Shape shape);
    // Tensors of phases that never live at the same time share bytes: after begin_phases(),
    // each next_phase() lays out again from where the first phase began; end_phases() goes on
    // after the longest phase.
    void begin_phases();
    void next_phase();
    void end_phases();
    std::size_t total_bytes() const { return m_total; }
    Buffer allocate(Backend& backend, Usage usage, const std::string& what) const;
    Tensor tensor(const Buffer& buffer, std::size_t index) const;

private:
    struct Entry {
        std::string name;
        DType dtype;
        Shape shape;
        std::size_t offset;
    };
    std::vector<Entry> m_entries;
    std::size_t m_total = 0;
    std::size_t m_phase_start = 0, m_phase_end = 0;  // while laying out phases
    bool m_in_phases = false;
};

}  // namespace qls
