#include "core/backend/cpu/cpu_twin.h"

#include "core/backend/cpu/cpu_backend.h"
#include "core/util/half.h"
#include "core/util/parallel.h"

namespace qls::cpu {

namespace {
// Rows of t as (rows, row_elements) with t's pitch.
template <typename Fn>
void for_rows(const Tensor& t, const Fn& fn) {
    const std::int64_t rows = t.shape.empty() ? 1 : t.dim(0);
    const std::int64_t width = t.shape.empty() ? 1 : t.row_elements();
    parallel_for(static_cast<std::size_t>(rows), std::max<std::int64_t>(1, (1 << 14) / std::max<std::int64_t>(1, width)),
                 [&](std::size_t b, std::size_t e) {
                     for (std::size_t r = b; r < e; ++r) fn(static_cast<std::int64_t>(r), width);
                 });
}
}  // namespace

void load_f32(const Tensor& src, float* dst) {
    const std::int64_t pitch = src.row_pitch();
    for_rows(src, [&](std::int64_t r, std::int64_t width) {
        float* d = dst + r * width;
        switch (src.dtype) {
            case DType::F32: {
                const float* s = src.ptr<const float>() + r * pitch;
                std::copy(s, s + width, d);
                break;
            }
            case DType::BF16: {
                const auto* s = src.ptr<const std::uint16_t>() + r * pitch;
                for (std::int64_t i = 0; i < width; ++i) d[i] = bf16_to_f32(s[i]);
                break;
            }
            case DType::F16: {
                const auto* s = src.ptr<const std::uint16_t>() + r * pitch;
                for (std::int64_t i = 0; i < width; ++i) d[i] = f16_to_f32(s[i]);
                break;
            }
            default: QLS_ASSERT(false, "load_f32: ", describe(src));
        }
    });
}

void store_rounded(const float* src, const Tensor& dst) {
    const std::int64_t pitch = dst.row_pitch();
    for_rows(dst, [&](std::int64_t r, std::int64_t width) {
        const float* s = src + r * width;
        switch (dst.dtype) {
            case DType::F32: std::copy(s, s + width, dst.ptr<float>() + r * pitch); break;
            case DType::BF16: {
                auto* d = dst.ptr<std::uint16_t>() + r * pitch;
                for (std::int64_t i = 0; i < width; ++i) d[i] = f32_to_bf16(s[i]);
                break;
            }
            case DType::F16: {
                auto* d = dst.ptr<std::uint16_t>() + r * pitch;
                for (std::int64_t i = 0; i < width; ++i) d[i] = f32_to_f16(s[i]);
                break;
            }
            default: QLS_ASSERT(false, "store_rounded: ", describe(dst));
        }
    });
}

std::int64_t twin_floats(std::initializer_list<const Tensor*> tensors) {
    std::int64_t floats = 0;
    for (const Tensor* t : tensors)
        if (!t->empty() && t->dtype != DType::F32) floats += t->numel();
    return floats;
}

Fp32Twin::Fp32Twin(CpuBackend& backend, std::initializer_list<const Tensor*> tensors)
    : m_size(twin_floats(tensors)) {
    if (m_size > 0) m_arena = backend.scratch(CpuBackend::Scratch::Twin, m_size);
}

float* Fp32Twin::take(const Tensor& t) {
    QLS_ASSERT(m_used + t.numel() <= m_size, "Fp32Twin: ", describe(t), " was not announced");
    float* p = m_arena + m_used;
    m_used += t.numel();
    return p;
}

Tensor Fp32Twin::read(const Tensor& t) {
    if (t.empty() || t.dtype == DType::F32) return t;
    Tensor f{reinterpret_cast<std::byte*>(take(t)), DType::F32, t.shape, 0};
    load_f32(t, f.ptr<float>());
    return f;
}

Tensor Fp32Twin::write(const Tensor& t, bool keep) {
    if (t.empty() || t.dtype == DType::F32) return t;
    Tensor f{reinterpret_cast<std::byte*>(take(t)), DType::F32, t.shape, 0};
    if (keep) load_f32(t, f.ptr<float>());
    m_writes.emplace_back(t, f);
    return f;
}

void Fp32Twin::store() {
    for (const auto& [dst, f] : m_writes) store_rounded(f.ptr<const float>(), dst);
    m_writes.clear();
}

}  // namespace qls::cpu
