#include "core/backend/cpu/cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

#include <unistd.h>

#include "core/backend/cpu/cpu_ops.h"
#include "core/backend/cpu/cpu_twin.h"
#include "core/util/parallel.h"

namespace qls {

// One OpenBLAS thread: cpu::gemm splits the rows over our own threads (cpu_gemm.cpp).
CpuBackend::CpuBackend() { openblas_set_num_threads(1); }

std::string CpuBackend::name() const { return str_cat("CPU (", num_threads(), " threads)"); }

std::optional<std::int64_t> CpuBackend::device_bytes_in_use() const {
    std::ifstream statm("/proc/self/statm");  // "size resident shared ..." in pages
    std::int64_t size = 0, resident = 0;
    if (!(statm >> size >> resident)) return std::nullopt;
    return resident * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

std::byte* CpuBackend::allocate_impl(std::size_t bytes, Usage usage) {
    void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    if (!p)
        throw OutOfMemoryError(str_cat("out of host memory allocating ", format_bytes(
                                           static_cast<std::int64_t>(bytes)),
                                       " for ", usage_name(usage)));
    return static_cast<std::byte*>(p);
}

void CpuBackend::free_impl(std::byte* p, Usage) noexcept { std::free(p); }

void CpuBackend::copy_from_host_impl(const Tensor& dst, std::span<const std::byte> src) {
    std::memcpy(dst.data, src.data(), src.size());
}

void CpuBackend::copy_to_host_impl(const Tensor& src, std::span<std::byte> dst) {
    std::memcpy(dst.data(), src.data, dst.size());
}

void CpuBackend::copy_from_host_async_impl(Stream, const Tensor& dst, std::span<const std::byte> src) {
    std::memcpy(dst.data, src.data(), src.size());
}

void CpuBackend::copy_to_host_async_impl(Stream, const Tensor& src, std::span<std::byte> dst) {
    std::memcpy(dst.data(), src.data, dst.size());
}

void CpuBackend::copy_impl(const Tensor& dst, const Tensor& src) {
    std::memmove(dst.data, src.data, src.bytes());
}

void CpuBackend::fill_zero_impl(const Tensor& t) { std::memset(t.data, 0, t.bytes()); }

float* CpuBackend::scratch(Scratch slot, std::int64_t floats) {
    Buffer& b = m_scratch[static_cast<std::size_t>(slot)];
    std::size_t bytes = static_cast<std::size_t>(floats) * sizeof(float);
    if (b.bytes() < bytes) {
        b = Buffer();
        b = allocate(bytes, Usage::Workspace, "CPU scratch");
    }
    return reinterpret_cast<float*>(b.data());
}

std::int64_t CpuBackend::converted_weight_elements(std::int64_t out, std::int64_t in) {
    const std::int64_t rows = std::clamp<std::int64_t>(kWeightBlockElements / std::max<std::int64_t>(1, in), 1, out);
    return rows * in;
}

void CpuBackend::dequantize_base(const LinearWeight& w, float* out) {
    if (w.ggml)
        cpu::dequantize_ggml(*w.ggml, w.out, w.in, out);
    else
        cpu::dequantize_4bit(*w.quant, w.in * w.out, out);
}

void CpuBackend::for_weight_blocks(const LinearWeight& w,
                                   const std::function<void(const float*, std::int64_t, std::int64_t)>& fn) {
    if (!w.quantized() && w.dense.dtype == DType::F32) return fn(w.dense.ptr<const float>(), 0, w.out);
    if (w.quantized()) {
        float* all = scratch(Scratch::Weight, w.in * w.out);
        dequantize_base(w, all);
        return fn(all, 0, w.out);
    }
    const std::int64_t rows = converted_weight_elements(w.out, w.in) / w.in;
    float* block = scratch(Scratch::Weight, rows * w.in);
    for (std::int64_t first = 0; first < w.out; first += rows) {
        const std::int64_t count = std::min(rows, w.out - first);
        cpu::to_f32(w.dense, block, first * w.in, count * w.in);
        fn(block, first, count);
    }
}

void CpuBackend::dequantize_weight_impl(const LinearWeight& w, const Tensor& out) {
    cpu::Fp32Twin twin(*this, {&out});
    const Tensor f = twin.write(out);
    if (w.quantized())
        dequantize_base(w, f.ptr<float>());
    else
        cpu::to_f32(w.dense, f.ptr<float>(), 0, w.in * w.out);
    twin.store();
}

// Each op below runs its fp32 kernel on fp32 copies of any 16-bit tensor (cpu_twin.h).

void CpuBackend::rmsnorm_forward_impl(const RmsNormForwardArgs& a) {
    cpu::Fp32Twin twin(*this, {&a.x, &a.out});
    RmsNormForwardArgs f = a;
    f.x = twin.read(a.x);
    f.out = twin.write(a.out);
    cpu::rmsnorm_forward(f);
    twin.store();
}

void CpuBackend::rmsnorm_backward_impl(const RmsNormBackwardArgs& a) {
    cpu::Fp32Twin twin(*this, {&a.x, &a.dout, &a.dx});
    RmsNormBackwardArgs f = a;
    f.x = twin.read(a.x);
    f.dout = twin.read(a.dout);
    f.dx = twin.write(a.dx, a.dx_mode == GradMode::Accumulate);
    cpu::rmsnorm_backward(f);
    twin.store();
}

void CpuBackend::rope_impl(const RopeArgs& a, bool inverse) {
    cpu::Fp32Twin twin(*this, {&a.x});
    RopeArgs f = a;
    f.x = twin.write(a.x, true);
    cpu::rope(f, inverse);
    twin.store();
}

std::size_t CpuBackend::attention_workspace_bytes_impl(const AttentionShape& s) const {
    return cpu::attention_workspace_bytes(s);
}

void CpuBackend::attention_forward_impl(const AttentionForwardArgs& a) {
    cpu::Fp32Twin twin(*this, {&a.q, &a.k, &a.v, &a.out});
    AttentionForwardArgs f = a;
    f.q = twin.read(a.q);
    f.k = twin.read(a.k);
    f.v = twin.read(a.v);
    f.out = twin.write(a.out);
    cpu::attention_forward(f);
    twin.store();
}

void CpuBackend::attention_backward_impl(const AttentionBackwardArgs& a) {
    cpu::Fp32Twin twin(*this, {&a.q, &a.k, &a.v, &a.out, &a.dout, &a.dq, &a.dk, &a.dv});
    AttentionBackwardArgs f = a;
    f.q = twin.read(a.q);
    f.k = twin.read(a.k);
    f.v = twin.read(a.v);
    f.out = twin.read(a.out);
    f.dout = twin.read(a.dout);
    f.dq = twin.write(a.dq);
    f.dk = twin.write(a.dk);
    f.dv = twin.write(a.dv);
    cpu::attention_backward(f);
    twin.store();
}

void CpuBackend::attention_decode_impl(const AttentionDecodeArgs& a) {
    cpu::Fp32Twin twin(*this, {&a.q, &a.k_cache, &a.v_cache, &a.out});
    AttentionDecodeArgs f = a;
    f.q = twin.read(a.q);
    f.k_cache = twin.read(a.k_cache);
    f.v_cache = twin.read(a.v_cache);
    f.out = twin.write(a.out);
    cpu::attention_decode(f);
    twin.store();
}

void CpuBackend::swiglu_forward_impl(const SwigluForwardArgs& a) {
    cpu::Fp32Twin twin(*this, {&a.gate, &a.up, &a.out});
    SwigluForwardArgs f = a;
    f.gate = twin.read(a.gate);
    f.up = twin.read(a.up);
    f.out = twin.write(a.out);
    cpu::swiglu_forward(f);
    twin.store();
}

void CpuBackend::swiglu_backward_impl(const SwigluBackwardArgs& a) {
    cpu::Fp32Twin twin(*this, {&a.gate, &a.up, &a.dout, &a.dgate, &a.dup});
    SwigluBackwardArgs f = a;
    f.gate = twin.read(a.gate);
    f.up = twin.read(a.up);
    f.dout = twin.read(a.dout);
    f.dgate = twin.write(a.dgate);
    f.dup = twin.write(a.dup);
    cpu::swiglu_backward(f);
    twin.store();
}

void CpuBackend::embedding_forward_impl(const EmbeddingArgs& a) {
    cpu::Fp32Twin twin(*this, {&a.out});
    EmbeddingArgs f = a;
    f.out = twin.write(a.out);
    cpu::embedding_forward(f);
    twin.store();
}

void CpuBackend::cross_entropy_impl(const CrossEntropyArgs& a) {
    cpu::Fp32Twin twin(*this, {&a.logits});
    CrossEntropyArgs f = a;
    f.logits = a.compute_grad ? twin.write(a.logits, true) : twin.read(a.logits);
    cpu::cross_entropy(f);
    twin.store();
}

void CpuBackend::adamw_step_impl(const AdamWArgs& a) { cpu::adamw_step(a); }

void CpuBackend::add_inplace_impl(const Tensor& dst, const Tensor& src) {
    cpu::Fp32Twin twin(*this, {&dst, &src});
    const Tensor d = twin.write(dst, true), s = twin.read(src);
    float* dp = d.ptr<float>();
    const float* sp = s.ptr<const float>();
    parallel_for(static_cast<std::size_t>(d.numel()), 1 << 16, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) dp[i] += sp[i];
    });
    twin.store();
}

void CpuBackend::gather_rows_impl(const Tensor& src, const Tensor& rows, const Tensor& dst) {
    const std::size_t row_bytes = dst.bytes() / static_cast<std::size_t>(std::max<std::int64_t>(1, dst.rows()));
    const std::int32_t* r = rows.ptr<const std::int32_t>();
    for (std::int64_t i = 0; i < rows.numel(); ++i)
        std::memcpy(dst.data + static_cast<std::size_t>(i) * row_bytes, src.data + static_cast<std::size_t>(r[i]) * row_bytes,
                    row_bytes);
}

void CpuBackend::scatter_rows_impl(const Tensor& src, const Tensor& rows, const Tensor& dst) {
    std::memset(dst.data, 0, dst.bytes());
    const std::size_t row_bytes = dst.bytes() / static_cast<std::size_t>(std::max<std::int64_t>(1, dst.rows()));
    const std::int32_t* r = rows.ptr<const std::int32_t>();
    for (std::int64_t i = 0; i < rows.numel(); ++i)
        std::memcpy(dst.data + static_cast<std::size_t>(r[i]) * row_bytes, src.data + static_cast<std::size_t>(i) * row_bytes,
                    row_bytes);
}

void CpuBackend::clip_grad_norm_impl(const ClipGradNormArgs& a) { cpu::clip_grad_norm(a); }

}  // namespace qls
