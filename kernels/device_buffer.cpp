#include "kernels/device_buffer.h"

#include <cstdio>
#include <utility>

#include "kernels/cuda_check.h"

namespace qls::cuda {

DeviceBuffer::DeviceBuffer(std::size_t bytes) : m_size(bytes) {
    if (bytes > 0) QLS_CUDA_CHECK(cudaMalloc(&m_ptr, bytes));
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : m_ptr(std::exchange(other.m_ptr, nullptr)), m_size(std::exchange(other.m_size, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
        release();
        m_ptr = std::exchange(other.m_ptr, nullptr);
        m_size = std::exchange(other.m_size, 0);
    }
    return *this;
}

DeviceBuffer::~DeviceBuffer() {
    release();
}

void DeviceBuffer::release() noexcept {
    if (m_ptr == nullptr) return;
    // A failure here means an earlier kernel faulted; that error was or will be reported where
    // it happened, so a destructor only notes it.
    if (const cudaError_t e = cudaFree(m_ptr); e != cudaSuccess)
        std::fprintf(stderr, "qls: cudaFree of %zu bytes failed: %s\n", m_size, cudaGetErrorString(e));
    m_ptr = nullptr;
    m_size = 0;
}

DeviceBuffer DeviceBuffer::clone(cudaStream_t stream) const {
    DeviceBuffer copy(m_size);
    if (m_size > 0)
        QLS_CUDA_CHECK(cudaMemcpyAsync(copy.m_ptr, m_ptr, m_size, cudaMemcpyDeviceToDevice, stream));
    return copy;
}

void DeviceBuffer::upload(std::span<const std::byte> host, cudaStream_t stream, std::size_t offset) {
    QLS_CHECK(InternalError, offset <= m_size && host.size() <= m_size - offset,
              "DeviceBuffer::upload: ", host.size(), " bytes at offset ", offset, " overrun a buffer of ",
              m_size);
    if (host.empty()) return;
    QLS_CUDA_CHECK(cudaMemcpyAsync(static_cast<std::byte*>(m_ptr) + offset, host.data(), host.size(),
                                   cudaMemcpyHostToDevice, stream));
    // Pageable memory is staged before cudaMemcpyAsync returns, but pinned memory is read
    // later: synchronize so the caller may always reuse its buffer.
    QLS_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void DeviceBuffer::download(std::span<std::byte> host, cudaStream_t stream) const {
    QLS_CHECK(InternalError, host.size() <= m_size, "DeviceBuffer::download: ", host.size(),
              " bytes from a buffer of ", m_size);
    if (host.empty()) return;
    QLS_CUDA_CHECK(cudaMemcpyAsync(host.data(), m_ptr, host.size(), cudaMemcpyDeviceToHost, stream));
    QLS_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void DeviceBuffer::fill(std::uint8_t byte, cudaStream_t stream) {
    if (m_size > 0) QLS_CUDA_CHECK(cudaMemsetAsync(m_ptr, byte, m_size, stream));
}

void StreamDeleter::operator()(cudaStream_t stream) const noexcept {
    if (const cudaError_t e = cudaStreamDestroy(stream); e != cudaSuccess)
        std::fprintf(stderr, "qls: cudaStreamDestroy failed: %s\n", cudaGetErrorString(e));
}

StreamHandle make_stream() {
    cudaStream_t stream = nullptr;
    QLS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    return StreamHandle(stream);
}

void EventDeleter::operator()(cudaEvent_t event) const noexcept {
    if (const cudaError_t e = cudaEventDestroy(event); e != cudaSuccess)
        std::fprintf(stderr, "qls: cudaEventDestroy failed: %s\n", cudaGetErrorString(e));
}

EventHandle make_event() {
    cudaEvent_t event = nullptr;
    QLS_CUDA_CHECK(cudaEventCreate(&event));
    return EventHandle(event);
}

}  // namespace qls::cuda
