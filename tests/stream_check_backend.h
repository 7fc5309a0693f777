// The CPU backend with a copy stream that lags, as a busy copy engine does on a GPU: copies
// issued on Stream::Copy wait in a queue until the compute stream waits for an event recorded
// after them, or the host synchronizes. Results are still the CpuBackend's, so a missing wait
// shows as stale data and, more legibly, as a hazard:
//  - a compute op touches bytes that a queued copy still has to read or write (the compute
//    stream did not wait for the copy);
//  - a copy is issued on bytes that compute ops touched after the copy stream last waited for
//    the compute stream (on a GPU the copy could run before them).
// Every op is tracked on the activations it reads and writes (the optimizer's paged state, the
// model's offloaded layer inputs) and, while a base loads, on the staging it quantizes from;
// frozen weights and LoRA parameters never move once loaded, so their tensors are left out.
// Like a GPU, it takes host uploads through pinned staging (staged_upload.h).
#pragma once
#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "delegating_backend.h"

namespace qls::test {

class StreamCheckBackend final : public DelegatingBackend {
public:
    std::string name() const override { return "CPU with a lagging copy stream"; }
    const std::vector<std::string>& hazards() const { return m_hazards; }
    std::string first_hazard() const { return m_hazards.empty() ? "none" : m_hazards.front(); }
    std::size_t pending_copies() const { return m_pending.size(); }
    bool stages_host_uploads() const override { return true; }

protected:
    void free_impl(std::byte* p, Usage u) noexcept override {
        run_copies(m_issued);  // freeing waits for pending copies, as cudaFree does
        DelegatingBackend::free_impl(p, u);
    }
    void copy_from_host_impl(const Tensor& dst, std::span<const std::byte> src) override {
        compute_op("copy_from_host", {dst});
        std::memcpy(dst.data, src.data(), src.size());
    }
    void copy_to_host_impl(const Tensor& src, std::span<std::byte> dst) override {
        compute_op("copy_to_host", {src});  // waits for the compute stream only
        std::memcpy(dst.data(), src.data, dst.size());
    }
    void copy_impl(const Tensor& dst, const Tensor& src) override {
        compute_op("copy", {dst, src});
        std::memmove(dst.data, src.data, src.bytes());
    }
    void fill_zero_impl(const Tensor& t) override {
        compute_op("fill_zero", {t});
        std::memset(t.data, 0, t.bytes());
    }
    void synchronize_impl() override { run_copies(m_issued); }
    void copy_from_host_async_impl(Stream s, const Tensor& dst, std::span<const std::byte> src) override {
        async_copy(s, dst, [dst, src] { std::memcpy(dst.data, src.data(), src.size()); });
    }
    void copy_to_host_async_impl(Stream s, const Tensor& src, std::span<std::byte> dst) override {
        async_copy(s, src, [src, dst] { std::memcpy(dst.data(), src.data, dst.size()); });
    }
    // Ids: 2·(n + 1), plus 1 on the copy stream, where n counts the stream's work so far.
    Event record_impl(Stream s) override {
        return s == Stream::Copy ? Event{2 * (m_issued + 1) + 1} : Event{2 * (m_compute_ops + 1)};
    }
    void wait_impl(Stream waiter, Event e) override {
        if (e.id == 0) return;
        const std::uint64_t n = e.id / 2 - 1;
        const bool on_copy = e.id % 2 == 1;
        if (waiter == Stream::Compute && on_copy) run_copies(n);
        if (waiter == Stream::Copy && !on_copy) {
            m_copy_after = std::max(m_copy_after, n);
            std::erase_if(m_touched, [&](const Touch& t) { return t.op < m_copy_after; });
        }
    }
    void wait_host_impl(Event) override { run_copies(m_issued); }

    void clip_grad_norm_impl(const ClipGradNormArgs& a) override {
        compute_op("clip_grad_norm", {a.out, a.loss_sum});
        m_cpu.clip_grad_norm(a);
    }
    void adamw_step_impl(const AdamWArgs& a) override {
        compute_op("adamw_step", {a.param, a.grad, a.m, a.v, a.control});
        m_cpu.adamw_step(a);
    }
    void linear_forward_impl(const LinearForwardArgs& a) override {
        compute_op("linear_forward", {a.x, a.out, a.residual, a.lora_xa});
        m_cpu.linear_forward(a);
    }
    void linear_backward_impl(const LinearBackwardArgs& a) override {
        compute_op("linear_backward", {a.x, a.dout, a.lora_xa, a.dx});
        m_cpu.linear_backward(a);
    }
    void rmsnorm_forward_impl(const RmsNormForwardArgs& a) override {
        compute_op("rmsnorm_forward", {a.x, a.out, a.rstd});
        m_cpu.rmsnorm_forward(a);
    }
    void rmsnorm_backward_impl(const RmsNormBackwardArgs& a) override {
        compute_op("rmsnorm_backward", {a.x, a.rstd, a.dout, a.dx});
        m_cpu.rmsnorm_backward(a);
    }
    void rope_impl(const RopeArgs& a, bool inverse) override {
        compute_op("rope", {a.x, a.positions});
        inverse ? m_cpu.rope_backward(a) : m_cpu.rope_forward(a);
    }
    void attention_forward_impl(const AttentionForwardArgs& a) override {
        compute_op("attention_forward", {a.q, a.k, a.v, a.cu_seqlens, a.out, a.lse, a.workspace});
        m_cpu.attention_forward(a);
    }
    void attention_backward_impl(const AttentionBackwardArgs& a) override {
        compute_op("attention_backward",
                   {a.q, a.k, a.v, a.cu_seqlens, a.out, a.lse, a.dout, a.dq, a.dk, a.dv, a.workspace});
        m_cpu.attention_backward(a);
    }
    void swiglu_forward_impl(const SwigluForwardArgs& a) override {
        compute_op("swiglu_forward", {a.gate, a.up, a.out});
        m_cpu.swiglu_forward(a);
    }
    void swiglu_backward_impl(const SwigluBackwardArgs& a) override {
        compute_op("swiglu_backward", {a.gate, a.up, a.dout, a.dgate, a.dup});
        m_cpu.swiglu_backward(a);
    }
    void embedding_forward_impl(const EmbeddingArgs& a) override {
        compute_op("embedding_forward", {a.tokens, a.out});
        m_cpu.embedding_forward(a);
    }
    void cross_entropy_impl(const CrossEntropyArgs& a) override {
        compute_op("cross_entropy", {a.logits, a.targets, a.losses, a.loss_sum});
        m_cpu.cross_entropy(a);
    }
    void add_inplace_impl(const Tensor& dst, const Tensor& src) override {
        compute_op("add_inplace", {dst, src});
        m_cpu.add_inplace(dst, src);
    }
    void gather_rows_impl(const Tensor& src, const Tensor& rows, const Tensor& dst) override {
        compute_op("gather_rows", {src, rows, dst});
        m_cpu.gather_rows(src, rows, dst);
    }
    void scatter_rows_impl(const Tensor& src, const Tensor& rows, const Tensor& dst) override {
        compute_op("scatter_rows", {src, rows, dst});
        m_cpu.scatter_rows(src, rows, dst);
    }
    void dequantize_weight_impl(const LinearWeight& w, const Tensor& out) override {
        compute_op("dequantize_weight", {out});
        m_cpu.dequantize_weight(w, out);
    }
    void quantize_weight_impl(const Tensor& src, const Tensor& workspace, Quant4View& out) override {
        compute_op("quantize_weight", {src, workspace});
        m_cpu.quantize_weight(src, workspace, out);
    }

private:
    struct Range {
        const std::byte *begin, *end;
        bool overlaps(const Range& o) const { return begin < o.end && o.begin < end; }
    };
    // A strided view (a column block of q|k|v) spans from its first row to the end of its last.
    static Range bytes_of(const Tensor& t) {
        const std::int64_t elements =
            t.contiguous() || t.numel() == 0 ? t.numel() : (t.shape[0] - 1) * t.row_stride + t.row_elements();
        return {t.data, t.data + static_cast<std::size_t>(elements) * dtype_size(t.dtype)};
    }
    struct Copy {
        std::uint64_t index;
        Range device;
        std::function<void()> run;
    };
    struct Touch {
        std::uint64_t op;
        Range device;
    };

    void compute_op(const char* what, std::initializer_list<Tensor> tensors) {
        for (const Tensor& t : tensors) {
            if (t.empty()) continue;
            for (const Copy& c : m_pending)
                if (c.device.overlaps(bytes_of(t)))
                    m_hazards.push_back(str_cat(what, " (compute op ", m_compute_ops, ") touches ",
                                                describe(t), " before copy ", c.index, " on them has run"));
            m_touched.push_back({m_compute_ops, bytes_of(t)});
        }
        ++m_compute_ops;
    }
    void async_copy(Stream s, const Tensor& device, std::function<void()> run) {
        if (s == Stream::Compute) {
            compute_op("async copy on the compute stream", {device});
            run();
            return;
        }
        for (const Touch& t : m_touched)
            if (t.device.overlaps(bytes_of(device)))
                m_hazards.push_back(str_cat("copy ", m_issued, " on ", describe(device),
                                            " is not ordered after compute op ", t.op, " that touched them"));
        m_pending.push_back({m_issued++, bytes_of(device), std::move(run)});
    }
    // Runs the queued copies with index < n, in issue order.
    void run_copies(std::uint64_t n) {
        while (!m_pending.empty() && m_pending.front().index < n) {
            m_pending.front().run();
            m_pending.pop_front();
        }
    }

    std::deque<Copy> m_pending;      // copy-stream work not yet run
    std::vector<Touch> m_touched;    // compute ops the copy stream has not waited for
    std::uint64_t m_issued = 0;      // copies issued on the copy stream
    std::uint64_t m_compute_ops = 0; // tracked compute ops issued
    std::uint64_t m_copy_after = 0;  // the copy stream runs after compute ops [0, m_copy_after)
    std::vector<std::string> m_hazards;
};

}  // namespace qls::test
