// Device memory and CUDA handles owned RAII-style (STYLE §4): a move-only DeviceBuffer with an
// explicit clone(), streams and events in unique_ptr with a deleter, checked host<->device copies.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

namespace qls::cuda {

class DeviceBuffer {
public:
    DeviceBuffer() = default;
    // cudaMalloc'd (256-byte aligned); throws qls::Error when the device is out of memory.
    explicit DeviceBuffer(std::size_t bytes);
    DeviceBuffer(DeviceBuffer&& other) noexcept;
    DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;  // use clone()
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer();  // logs a failed cudaFree, never throws

    // A new buffer with the same bytes, copied on `stream` (ordered after earlier work there).
    DeviceBuffer clone(cudaStream_t stream = nullptr) const;

    std::size_t size() const { return m_size; }
    bool empty() const { return m_size == 0; }
    void* data() { return m_ptr; }
    const void* data() const { return m_ptr; }
    template <typename T>
    T* as() {
        return static_cast<T*>(m_ptr);
    }
    template <typename T>
    const T* as() const {
        return static_cast<const T*>(m_ptr);
    }

    // Copy host bytes to [offset, offset + host.size()); the host span may be reused on return.
    void upload(std::span<const std::byte> host, cudaStream_t stream = nullptr, std::size_t offset = 0);
    // Copy the first host.size() bytes back; returns once they have arrived.
    void download(std::span<std::byte> host, cudaStream_t stream = nullptr) const;
    // Set every byte (poisoning outputs in tests, zeroing workspaces).
    void fill(std::uint8_t byte, cudaStream_t stream = nullptr);

private:
    void release() noexcept;

    void* m_ptr = nullptr;
    std::size_t m_size = 0;
};

template <typename T>
DeviceBuffer to_device(std::span<const T> host, cudaStream_t stream = nullptr) {
    static_assert(std::is_trivially_copyable_v<T>);
    DeviceBuffer buf(host.size_bytes());
    buf.upload(std::as_bytes(host), stream);
    return buf;
}

// All of `buf` as size() / sizeof(T) elements.
template <typename T>
std::vector<T> to_host(const DeviceBuffer& buf, cudaStream_t stream = nullptr) {
    static_assert(std::is_trivially_copyable_v<T>);
    std::vector<T> host(buf.size() / sizeof(T));
    buf.download(std::as_writable_bytes(std::span<T>(host)), stream);
    return host;
}

struct StreamDeleter {
    void operator()(cudaStream_t stream) const noexcept;
};
using StreamHandle = std::unique_ptr<std::remove_pointer_t<cudaStream_t>, StreamDeleter>;
// A non-blocking stream: it does not wait on the legacy default stream.
StreamHandle make_stream();

struct EventDeleter {
    void operator()(cudaEvent_t event) const noexcept;
};
using EventHandle = std::unique_ptr<std::remove_pointer_t<cudaEvent_t>, EventDeleter>;
EventHandle make_event();  // with timing enabled

}  // namespace qls::cuda
