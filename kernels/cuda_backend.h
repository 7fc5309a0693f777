// The CUDA backend: the Backend interface (core/backend/backend.h) on one NVIDIA GPU, op for op
// the CPU twin's arithmetic (fp32 accumulation, one rounding per stored activation). Ops run in
// call order on one compute stream; page moves may use a second, copy stream, ordered by events.
// Each op is a free function in qls::cuda (cuda_ops.h), one file pair per op; this class owns
// the device, the streams, cuBLAS and the grow-on-demand scratch the ops share.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include "core/backend/backend.h"
#include "kernels/device_buffer.h"

namespace qls::cuda {

// Scratch that lives across ops, accounted as Usage::Workspace like the CPU backend's. A slot
// grows when an op asks for more (freeing the old one waits for the device, so no kernel still
// reads it); ops must not keep a slot's pointer across calls.
enum class Scratch : std::uint8_t {
    Weight,      // a base weight dequantized or converted to the compute dtype
    LinearOut,   // fp32 (rows, out): the linear's sum before its one rounding
    LinearIn,    // fp32 (rows, in): the input (or its gradient) in fp32 for the LoRA GEMMs
    LoraInput,   // fp32 (rows, in): dropout(x)
    LoraMid,     // fp32 (rows, Σr)
    LoraMid2,    // fp32 (rows, Σr)
    Reduce,      // partial sums of reductions (clip_grad_norm, loss sums)
    Table,       // small argument tables (multi-tensor pointers)
    Count
};

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(int device);
    ~CudaBackend() override;
    CudaBackend(const CudaBackend&) = delete;
    CudaBackend& operator=(const CudaBackend&) = delete;

    std::string name() const override;
    // bf16 where tensor cores have it (sm_80 and newer), else fp16 with loss scaling (T4).
    DType preferred_compute_dtype() const override;
    // Total minus free as cudaMemGetInfo says (nvidia-smi's figure: the context, cuBLAS, other
    // processes on the card too).
    std::optional<std::int64_t> device_bytes_in_use() const override;
    bool stages_host_uploads() const override { return true; }

    int device() const { return m_device; }
    int compute_capability() const { return m_cc; }  // 75, 80, 86, 89, 90, 120, ...
    int multiprocessors() const { return m_sms; }
    // The compute stream, current device set for the calling thread (the trainer's thread may
    // not be the one that created the backend).
    cudaStream_t stream() const;
    cublasHandle_t blas() const;
    void* scratch(Scratch slot, std::size_t bytes);
    // cuBLAS's own workspace, given explicitly so it is accounted (its default is allocated
    // behind our back). 32 MiB is what cuBLAS recommends for Hopper; older GPUs use less of it.
    static constexpr std::size_t kBlasWorkspaceBytes = std::size_t{32} << 20;

protected:
    std::byte* allocate_impl(std::size_t bytes, Usage usage) override;
    void free_impl(std::byte* p, Usage usage) noexcept override;
    void copy_from_host_impl(const Tensor& dst, std::span<const std::byte> src) override;
    void copy_to_host_impl(const Tensor& src, std::span<std::byte> dst) override;
    void copy_impl(const Tensor& dst, const Tensor& src) override;
    void fill_zero_impl(const Tensor& t) override;
    void synchronize_impl() override;
    void copy_from_host_async_impl(Stream s, const Tensor& dst, std::span<const std::byte> src) override;
    void copy_to_host_async_impl(Stream s, const Tensor& src, std::span<std::byte> dst) override;
    Event record_impl(Stream s) override;
    void wait_impl(Stream waiter, Event e) override;
    void wait_host_impl(Event e) override;

    void linear_forward_impl(const LinearForwardArgs& a) override;
    void linear_backward_impl(const LinearBackwardArgs& a) override;
    void rmsnorm_forward_impl(const RmsNormForwardArgs& a) override;
    void rmsnorm_backward_impl(const RmsNormBackwardArgs& a) override;
    void rope_impl(const RopeArgs& a, bool inverse) override;
    std::size_t attention_workspace_bytes_impl(const AttentionShape& s) const override;
    std::int64_t op_scratch_bytes_impl(const StepShapes& s) const override;  // cuda_scratch_plan.cpp
    void reserve_op_scratch_impl(const StepShapes& s) override;
    void release_op_scratch_impl() override;
    void attention_forward_impl(const AttentionForwardArgs& a) override;
    void attention_backward_impl(const AttentionBackwardArgs& a) override;
    void attention_decode_impl(const AttentionDecodeArgs& a) override;
    void swiglu_forward_impl(const SwigluForwardArgs& a) override;
    void swiglu_backward_impl(const SwigluBackwardArgs& a) override;
    void embedding_forward_impl(const EmbeddingArgs& a) override;
    void cross_entropy_impl(const CrossEntropyArgs& a) override;
    void add_inplace_impl(const Tensor& dst, const Tensor& src) override;
    void gather_rows_impl(const Tensor& src, const Tensor& rows, const Tensor& dst) override;
    void scatter_rows_impl(const Tensor& src, const Tensor& rows, const Tensor& dst) override;
    void clip_grad_norm_impl(const ClipGradNormArgs& a) override;
    void adamw_step_impl(const AdamWArgs& a) override;
    void dequantize_weight_impl(const LinearWeight& w, const Tensor& out) override;
    void quantize_weight_impl(const Tensor& src, const Tensor& workspace, Quant4View& out) override;

private:
    void bind() const;  // makes m_device current on the calling thread
    cudaStream_t stream_of(Stream s) const;

    int m_device = 0;
    int m_cc = 0;
    int m_sms = 0;
    std::string m_name;
    StreamHandle m_compute, m_copy;
    cublasHandle_t m_blas = nullptr;
    DeviceBuffer m_blas_workspace;
    std::array<Buffer, static_cast<std::size_t>(Scratch::Count)> m_scratch;
    // Events by id: a ring, reused once kEventRing later records have been made (a stale id then
    // names a later point of the same stream, which only waits longer).
    static constexpr std::size_t kEventRing = 256;
    std::vector<EventHandle> m_events;
    std::vector<Stream> m_event_stream;
    std::uint64_t m_next_event = 1;
};

// Registers the "cuda" device backend (backend_registry.h); call once at program start. Safe
// without a GPU or driver: the factory then reports no devices.
void register_cuda_backend();

// The CUDA backend's memory planning (attention workspace, op scratch) without a device: what
// the registry's memory_planner("cuda") gives (cuda_scratch_plan.cpp).
std::unique_ptr<MemoryPlanner> cuda_memory_planner();

}  // namespace qls::cuda
