// The readable reference backend: host memory, OpenBLAS GEMMs, parallel_for elsewhere. It
// computes in fp32 and stores 16-bit activations rounded where a GPU rounds (cpu_twin.h), so
// every other backend is tested against it op by op, in every compute dtype.
#pragma once
#include <array>
#include <functional>

#include "core/backend/backend.h"

namespace qls {

class CpuBackend final : public Backend {
public:
    CpuBackend();
    std::string name() const override;
    // The process's resident set (/proc/self/statm), nullopt where the system has no such file.
    std::optional<std::int64_t> device_bytes_in_use() const override;

    // Scratch that lives across ops (dequantized weight, LoRA intermediates, the fp32 copies of
    // 16-bit tensors), grown on demand and accounted as Workspace like a device backend's would be.
    enum class Scratch : std::uint8_t { Weight, LoraInput, LoraMid, LoraMid2, Twin, Count };
    float* scratch(Scratch slot, std::int64_t floats);
    // A 16-bit base weight is converted to fp32 this many elements (whole rows) at a time, so a
    // large LM head needs no full fp32 copy; the elements of the Weight scratch it takes.
    static constexpr std::int64_t kWeightBlockElements = std::int64_t{1} << 22;
    static std::int64_t converted_weight_elements(std::int64_t out, std::int64_t in);

protected:
    std::byte* allocate_impl(std::size_t bytes, Usage usage) override;
    void free_impl(std::byte* p, Usage usage) noexcept override;
    void copy_from_host_impl(const Tensor& dst, std::span<const std::byte> src) override;
    void copy_to_host_impl(const Tensor& src, std::span<std::byte> dst) override;
    void copy_impl(const Tensor& dst, const Tensor& src) override;
    void fill_zero_impl(const Tensor& t) override;
    void synchronize_impl() override {}
    // Everything runs at once in call order, so streams and events are trivially satisfied.
    void copy_from_host_async_impl(Stream, const Tensor& dst, std::span<const std::byte> src) override;
    void copy_to_host_async_impl(Stream, const Tensor& src, std::span<std::byte> dst) override;
    Event record_impl(Stream) override { return {}; }
    void wait_impl(Stream, Event) override {}
    void wait_host_impl(Event) override {}

    void linear_forward_impl(const LinearForwardArgs& a) override;
    void linear_backward_impl(const LinearBackwardArgs& a) override;
    void rmsnorm_forward_impl(const RmsNormForwardArgs& a) override;
    void rmsnorm_backward_impl(const RmsNormBackwardArgs& a) override;
    void rope_impl(const RopeArgs& a, bool inverse) override;
    std::size_t attention_workspace_bytes_impl(const AttentionShape& s) const override;
    std::int64_t op_scratch_bytes_impl(const StepShapes& s) const override;  // cpu_scratch_plan.cpp
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
    void quantize_weight_impl(const Tensor& src, const Tensor& workspace, Quant4View& out) override;  // cpu_quantize_weight.cpp

private:
    // Calls fn(rows, first, count) over blocks of the base weight's output rows in fp32: the
    // weight itself when dense F32 (one block); else converted into the Weight scratch, a 4-bit
    // weight whole (bitsandbytes 4-bit or GGUF blocks), a 16-bit one converted_weight_elements()
    // at a time.
    void for_weight_blocks(const LinearWeight& w,
                           const std::function<void(const float*, std::int64_t, std::int64_t)>& fn);
    // A quantized base weight, whole, into `out` (out * in fp32 values).
    static void dequantize_base(const LinearWeight& w, float* out);
    // The linear layer on fp32 tensors (cpu_linear.cpp); the *_impl wrap them in Fp32Twin.
    void linear_forward_f32(const LinearForwardArgs& a);
    void linear_backward_f32(const LinearBackwardArgs& a);
    void lora_backward_stacked(const LinearBackwardArgs& a);

    std::array<Buffer, static_cast<std::size_t>(Scratch::Count)> m_scratch;
};

}  // namespace qls
