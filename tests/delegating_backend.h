// A backend for tests that wraps the CPU backend: host memory, every op forwarded to a
// CpuBackend, copies and events immediate. A test backend derives from it and overrides only
// what it changes (a planted fault, a lagging copy stream).
#pragma once
#include <algorithm>
#include <cstring>
#include <new>

#include "core/backend/cpu/cpu_backend.h"

namespace qls::test {

class DelegatingBackend : public Backend {
protected:
    std::byte* allocate_impl(std::size_t bytes, Usage) override {
        return static_cast<std::byte*>(::operator new(std::max<std::size_t>(bytes, 1), kAlign));
    }
    void free_impl(std::byte* p, Usage) noexcept override { ::operator delete(p, kAlign); }
    void copy_from_host_impl(const Tensor& dst, std::span<const std::byte> src) override {
        std::memcpy(dst.data, src.data(), src.size());
    }
    void copy_to_host_impl(const Tensor& src, std::span<std::byte> dst) override {
        std::memcpy(dst.data(), src.data, dst.size());
    }
    void copy_impl(const Tensor& dst, const Tensor& src) override { std::memmove(dst.data, src.data, src.bytes()); }
    void fill_zero_impl(const Tensor& t) override { std::memset(t.data, 0, t.bytes()); }
    void synchronize_impl() override {}
    void copy_from_host_async_impl(Stream, const Tensor& dst, std::span<const std::byte> src) override {
        std::memcpy(dst.data, src.data(), src.size());
    }
    void copy_to_host_async_impl(Stream, const Tensor& src, std::span<std::byte> dst) override {
        std::memcpy(dst.data(), src.data, dst.size());
    }
    Event record_impl(Stream) override { return {}; }
    void wait_impl(Stream, Event) override {}
    void wait_host_impl(Event) override {}

    void linear_forward_impl(const LinearForwardArgs& a) override { m_cpu.linear_forward(a); }
    void linear_backward_impl(const LinearBackwardArgs& a) override { m_cpu.linear_backward(a); }
    void rmsnorm_forward_impl(const RmsNormForwardArgs& a) override { m_cpu.rmsnorm_forward(a); }
    void rmsnorm_backward_impl(const RmsNormBackwardArgs& a) override { m_cpu.rmsnorm_backward(a); }
    void rope_impl(const RopeArgs& a, bool inverse) override {
        inverse ? m_cpu.rope_backward(a) : m_cpu.rope_forward(a);
    }
    std::size_t attention_workspace_bytes_impl(const AttentionShape& s) const override {
        return m_cpu.attention_workspace_bytes(s);
    }
    // The wrapped backend's scratch is its own: this one's accountant never sees it.
    std::int64_t op_scratch_bytes_impl(const StepShapes&) const override { return 0; }
    void reserve_op_scratch_impl(const StepShapes& s) override { m_cpu.reserve_op_scratch(s); }
    void release_op_scratch_impl() override { m_cpu.release_op_scratch(); }
    void attention_forward_impl(const AttentionForwardArgs& a) override { m_cpu.attention_forward(a); }
    void attention_backward_impl(const AttentionBackwardArgs& a) override { m_cpu.attention_backward(a); }
    void attention_decode_impl(const AttentionDecodeArgs& a) override { m_cpu.attention_decode(a); }
    void swiglu_forward_impl(const SwigluForwardArgs& a) override { m_cpu.swiglu_forward(a); }
    void swiglu_backward_impl(const SwigluBackwardArgs& a) override { m_cpu.swiglu_backward(a); }
    void embedding_forward_impl(const EmbeddingArgs& a) override { m_cpu.embedding_forward(a); }
    void cross_entropy_impl(const CrossEntropyArgs& a) override { m_cpu.cross_entropy(a); }
    void add_inplace_impl(const Tensor& dst, const Tensor& src) override { m_cpu.add_inplace(dst, src); }
    void gather_rows_impl(const Tensor& src, const Tensor& rows, const Tensor& dst) override {
        m_cpu.gather_rows(src, rows, dst);
    }
    void scatter_rows_impl(const Tensor& src, const Tensor& rows, const Tensor& dst) override {
        m_cpu.scatter_rows(src, rows, dst);
    }
    void clip_grad_norm_impl(const ClipGradNormArgs& a) override { m_cpu.clip_grad_norm(a); }
    void adamw_step_impl(const AdamWArgs& a) override { m_cpu.adamw_step(a); }
    void dequantize_weight_impl(const LinearWeight& w, const Tensor& out) override { m_cpu.dequantize_weight(w, out); }
    void quantize_weight_impl(const Tensor& src, const Tensor& workspace, Quant4View& out) override {
        m_cpu.quantize_weight(src, workspace, out);
    }

    CpuBackend m_cpu;

private:
    static constexpr std::align_val_t kAlign{256};
};

}  // namespace qls::test
