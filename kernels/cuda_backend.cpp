#include "kernels/cuda_backend.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "core/backend/backend_registry.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_ops.h"
#include "kernels/device_info.h"

namespace qls::cuda {

namespace {

std::string free_memory_note(int device) {
    std::size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(device) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        return "";
    }
    return str_cat(" (", format_bytes(static_cast<std::int64_t>(free_b)), " of ",
                   format_bytes(static_cast<std::int64_t>(total_b)), " free on cuda:", device, ")");
}

}  // namespace

CudaBackend::CudaBackend(int device) : m_device(device) {
    cudaDeviceProp p{};
    QLS_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
    m_cc = p.major * 10 + p.minor;
    m_sms = p.multiProcessorCount;
    m_name = p.name;
    bind();
    m_compute = make_stream();
    m_copy = make_stream();
    QLS_CUDA_CHECK(cublasCreate(&m_blas));
    QLS_CUDA_CHECK(cublasSetStream(m_blas, m_compute.get()));
    // fp32 GEMMs stay fp32 (no TF32), as on the CPU twin.
    QLS_CUDA_CHECK(cublasSetMathMode(m_blas, CUBLAS_DEFAULT_MATH));
    m_blas_workspace = DeviceBuffer(kBlasWorkspaceBytes);
    memory().on_allocate(Usage::Workspace, static_cast<std::int64_t>(kBlasWorkspaceBytes), "cuBLAS workspace");
    QLS_CUDA_CHECK(cublasSetWorkspace(m_blas, m_blas_workspace.data(), kBlasWorkspaceBytes));
    m_events.resize(kEventRing);
    m_event_stream.resize(kEventRing, Stream::Compute);
}

CudaBackend::~CudaBackend() {
    (void)cudaSetDevice(m_device);
    (void)cudaDeviceSynchronize();  // nothing may still use the buffers freed below
    for (Buffer& b : m_scratch) b = Buffer();
    if (m_blas) cublasDestroy(m_blas);
    memory().on_free(Usage::Workspace, static_cast<std::int64_t>(m_blas_workspace.size()));
}

std::string CudaBackend::name() const { return str_cat(m_name, " (cuda:", m_device, ", sm_", m_cc, ")"); }

DType CudaBackend::preferred_compute_dtype() const { return m_cc >= 80 ? DType::BF16 : DType::F16; }

std::optional<std::int64_t> CudaBackend::device_bytes_in_use() const {
    bind();
    std::size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        return std::nullopt;
    }
    return static_cast<std::int64_t>(total_b - free_b);
}

void CudaBackend::bind() const { QLS_CUDA_CHECK(cudaSetDevice(m_device)); }

cudaStream_t CudaBackend::stream() const {
    bind();
    return m_compute.get();
}

cublasHandle_t CudaBackend::blas() const {
    bind();
    return m_blas;
}

cudaStream_t CudaBackend::stream_of(Stream s) const { return s == Stream::Copy ? m_copy.get() : m_compute.get(); }

void* CudaBackend::scratch(Scratch slot, std::size_t bytes) {
    Buffer& b = m_scratch[static_cast<std::size_t>(slot)];
    if (b.bytes() < bytes) {
        b = Buffer();  // cudaFree waits for the kernels still reading it
        // Grow by half again, so a slowly growing demand does not reallocate every call.
        b = allocate(std::max(bytes, b.bytes() + b.bytes() / 2), Usage::Workspace, "CUDA scratch");
    }
    return b.data();
}

std::byte* CudaBackend::allocate_impl(std::size_t bytes, Usage usage) {
    bind();
    void* p = nullptr;
    const std::size_t size = std::max<std::size_t>(bytes, 1);
    // Host pages (paged optimizer state) are pinned, so the copy stream moves them with DMA
    // while kernels run.
    const cudaError_t e = usage_on_device(usage) ? cudaMalloc(&p, size) : cudaHostAlloc(&p, size, cudaHostAllocDefault);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        throw OutOfMemoryError(str_cat("out of ", usage_on_device(usage) ? "device" : "pinned host", " memory allocating ",
                                       format_bytes(static_cast<std::int64_t>(bytes)), " for ", usage_name(usage),
                                       usage_on_device(usage) ? free_memory_note(m_device) : std::string()));
    }
    QLS_CUDA_CHECK(e);
    return static_cast<std::byte*>(p);
}

void CudaBackend::free_impl(std::byte* p, Usage usage) noexcept {
    (void)cudaSetDevice(m_device);
    const cudaError_t e = usage_on_device(usage) ? cudaFree(p) : cudaFreeHost(p);
    if (e != cudaSuccess) {
        // An earlier kernel faulted; that error was (or will be) reported where it happened.
        std::fprintf(stderr, "qls: freeing %s memory failed: %s\n", std::string(usage_name(usage)).c_str(), cudaGetErrorString(e));
        cudaGetLastError();
    }
}

void CudaBackend::copy_from_host_impl(const Tensor& dst, std::span<const std::byte> src) {
    bind();
    // From pageable memory cudaMemcpyAsync returns once the bytes are staged, so `src` may be
    // reused at once, as the interface promises; pinned memory would be read later by the DMA,
    // so then the call waits for it.
    cudaPointerAttributes attr{};
    QLS_CUDA_CHECK(cudaPointerGetAttributes(&attr, src.data()));
    QLS_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data(), src.size(), cudaMemcpyHostToDevice, m_compute.get()));
    if (attr.type == cudaMemoryTypeHost) QLS_CUDA_CHECK(cudaStreamSynchronize(m_compute.get()));
}

void CudaBackend::copy_to_host_impl(const Tensor& src, std::span<std::byte> dst) {
    bind();
    QLS_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data, dst.size(), cudaMemcpyDeviceToHost, m_compute.get()));
    QLS_CUDA_CHECK(cudaStreamSynchronize(m_compute.get()));
}

void CudaBackend::copy_impl(const Tensor& dst, const Tensor& src) {
    bind();
    QLS_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, src.bytes(), cudaMemcpyDeviceToDevice, m_compute.get()));
}

void CudaBackend::fill_zero_impl(const Tensor& t) {
    bind();
    QLS_CUDA_CHECK(cudaMemsetAsync(t.data, 0, t.bytes(), m_compute.get()));
}

void CudaBackend::synchronize_impl() {
    bind();
    QLS_CUDA_CHECK(cudaStreamSynchronize(m_copy.get()));
    QLS_CUDA_CHECK(cudaStreamSynchronize(m_compute.get()));
}

void CudaBackend::copy_from_host_async_impl(Stream s, const Tensor& dst, std::span<const std::byte> src) {
    bind();
    QLS_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data(), src.size(), cudaMemcpyHostToDevice, stream_of(s)));
}

void CudaBackend::copy_to_host_async_impl(Stream s, const Tensor& src, std::span<std::byte> dst) {
    bind();
    QLS_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data, dst.size(), cudaMemcpyDeviceToHost, stream_of(s)));
}

Event CudaBackend::record_impl(Stream s) {
    bind();
    const std::uint64_t id = m_next_event++;
    EventHandle& e = m_events[id % kEventRing];
    if (!e) {
        cudaEvent_t raw = nullptr;
        QLS_CUDA_CHECK(cudaEventCreateWithFlags(&raw, cudaEventDisableTiming));
        e.reset(raw);
    }
    QLS_CUDA_CHECK(cudaEventRecord(e.get(), stream_of(s)));
    m_event_stream[id % kEventRing] = s;
    return {id};
}

void CudaBackend::wait_impl(Stream waiter, Event e) {
    if (e.id == 0) return;
    bind();
    QLS_CUDA_CHECK(cudaStreamWaitEvent(stream_of(waiter), m_events[e.id % kEventRing].get(), 0));
}

void CudaBackend::wait_host_impl(Event e) {
    if (e.id == 0) return;
    bind();
    QLS_CUDA_CHECK(cudaEventSynchronize(m_events[e.id % kEventRing].get()));
}

// ---- ops: kernels/<op>.cu, dispatched on the compute stream ----

void CudaBackend::linear_forward_impl(const LinearForwardArgs& a) { qls::cuda::linear_forward(*this, a); }
void CudaBackend::linear_backward_impl(const LinearBackwardArgs& a) { qls::cuda::linear_backward(*this, a); }
void CudaBackend::rmsnorm_forward_impl(const RmsNormForwardArgs& a) { qls::cuda::rmsnorm_forward(a, stream()); }
void CudaBackend::rmsnorm_backward_impl(const RmsNormBackwardArgs& a) { qls::cuda::rmsnorm_backward(a, stream()); }
void CudaBackend::rope_impl(const RopeArgs& a, bool inverse) { qls::cuda::rope(a, inverse, stream()); }
std::size_t CudaBackend::attention_workspace_bytes_impl(const AttentionShape& s) const {
    return qls::cuda::attention_workspace_bytes(s);
}
void CudaBackend::attention_forward_impl(const AttentionForwardArgs& a) { qls::cuda::attention_forward(a, stream()); }
void CudaBackend::attention_backward_impl(const AttentionBackwardArgs& a) { qls::cuda::attention_backward(a, stream()); }
void CudaBackend::attention_decode_impl(const AttentionDecodeArgs& a) { qls::cuda::attention_decode(a, stream()); }
void CudaBackend::swiglu_forward_impl(const SwigluForwardArgs& a) { qls::cuda::swiglu_forward(a, stream()); }
void CudaBackend::swiglu_backward_impl(const SwigluBackwardArgs& a) { qls::cuda::swiglu_backward(a, stream()); }
void CudaBackend::embedding_forward_impl(const EmbeddingArgs& a) { qls::cuda::embedding_forward(a, stream()); }
void CudaBackend::cross_entropy_impl(const CrossEntropyArgs& a) { qls::cuda::cross_entropy(a, stream()); }
void CudaBackend::add_inplace_impl(const Tensor& dst, const Tensor& src) { qls::cuda::add_inplace(dst, src, stream()); }
void CudaBackend::gather_rows_impl(const Tensor& src, const Tensor& rows, const Tensor& dst) {
    qls::cuda::gather_rows(src, rows, dst, stream());
}
void CudaBackend::scatter_rows_impl(const Tensor& src, const Tensor& rows, const Tensor& dst) {
    qls::cuda::scatter_rows(src, rows, dst, stream());
}
void CudaBackend::clip_grad_norm_impl(const ClipGradNormArgs& a) { qls::cuda::clip_grad_norm(*this, a); }
void CudaBackend::adamw_step_impl(const AdamWArgs& a) { qls::cuda::adamw_step(a, stream()); }
void CudaBackend::dequantize_weight_impl(const LinearWeight& w, const Tensor& out) { qls::cuda::dequantize_weight(*this, w, out); }
void CudaBackend::quantize_weight_impl(const Tensor& src, const Tensor& workspace, Quant4View& out) {
    qls::cuda::quantize_weight(*this, src, workspace, out);
}

// ---- registration ----

void register_cuda_backend() {
    DeviceBackendFactory f;
    f.kind = "cuda";
    f.device_count = [] {
        int n = 0;
        if (cudaGetDeviceCount(&n) != cudaSuccess) {
            cudaGetLastError();  // no driver or no device: not an error for a CPU-only machine
            return 0;
        }
        return n;
    };
    // What run.json, the event stream, the status bar and the Device menu call it: the card,
    // its memory and compute capability, so a run says exactly where it trained.
    f.device_name = [](int i) {
        cudaDeviceProp p{};
        QLS_CUDA_CHECK(cudaGetDeviceProperties(&p, i));
        return str_cat(p.name, ", ", format_bytes(static_cast<std::int64_t>(p.totalGlobalMem)), ", compute capability ",
                       p.major, ".", p.minor);
    };
    f.create = [](int i) -> std::unique_ptr<Backend> { return std::make_unique<CudaBackend>(i); };
    f.report = cuda_report;
    f.memory = device_memory_now;
    f.planner = cuda_memory_planner;
    register_device_backend(std::move(f));
}

}  // namespace qls::cuda
