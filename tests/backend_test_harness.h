// The machinery of the op-by-op backend test (STYLE.md §3, as ggml's test-backend-ops): every
// tensor a row hands to a Backend sits between canary bytes, inputs must come back unchanged,
// and outputs are compared with a double-precision reference by NMSE under a per-op limit;
// NaN fails and an Inf must match in sign. Written against Backend& only, so that the CUDA
// backend runs the same rows.
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/util/half.h"

namespace qls::test::ops {

// Collects every failure of a row, so that one run reports all of them.
class Checker {
public:
    template <typename... Args>
    void expect(bool cond, const Args&... message) {
        if (!cond) m_failures.push_back(str_cat(message...));
    }
    bool ok() const { return m_failures.empty(); }
    std::string report() const {
        std::string s;
        for (const std::string& f : m_failures) s += f + "\n";
        return s;
    }
    // The worst NMSE a row reached against its limit (printed, to see the margin).
    void record_nmse(double nmse, double limit) {
        if (limit > 0) m_worst_ratio = std::max(m_worst_ratio, nmse / limit);
    }
    double worst_ratio() const { return m_worst_ratio; }

private:
    std::vector<std::string> m_failures;
    double m_worst_ratio = 0;
};

// What one row gets: the backend under test, where failures go, a seeded random source.
struct Context {
    Backend& backend;
    Checker& check;
    std::mt19937_64 rng;

    std::vector<float> normal(std::size_t n, float sigma) {
        std::normal_distribution<float> d(0.0f, sigma);
        std::vector<float> v(n);
        for (float& x : v) x = d(rng);
        return v;
    }
    std::int64_t integer(std::int64_t lo, std::int64_t hi) {  // [lo, hi]
        return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
    }
    // Up to k distinct indices of [0, n), all of them when n <= k.
    std::vector<std::size_t> sample(std::size_t n, std::size_t k) {
        std::vector<std::size_t> idx(n);
        for (std::size_t i = 0; i < n; ++i) idx[i] = i;
        if (n <= k) return idx;
        std::shuffle(idx.begin(), idx.end(), rng);
        idx.resize(k);
        return idx;
    }
};

// One row of the op table: op × dtype × shape, with everything it checks.
struct Row {
    std::string name;
    std::function<void(Context&)> run;
};

// ---- host values in a tensor dtype ----

inline std::vector<std::byte> encode(std::span<const float> v, DType dtype) {
    std::vector<std::byte> out(v.size() * dtype_size(dtype));
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (dtype == DType::F32) {
            std::memcpy(out.data() + 4 * i, &v[i], 4);
            continue;
        }
        QLS_ASSERT(dtype == DType::BF16 || dtype == DType::F16, "encode: ", dtype_name(dtype));
        const std::uint16_t h = dtype == DType::BF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return out;
}

// The values an op sees after they were stored in dtype, widened to double.
inline std::vector<double> as_stored(std::span<const float> v, DType dtype) {
    std::vector<double> out(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        float f = v[i];
        if (dtype == DType::BF16) f = bf16_to_f32(f32_to_bf16(f));
        if (dtype == DType::F16) f = f16_to_f32(f32_to_f16(f));
        out[i] = f;
    }
    return out;
}

inline std::vector<double> widen(std::span<const float> v) {
    return {v.begin(), v.end()};
}

// ---- guarded tensors ----

inline constexpr std::size_t kGuardBytes = 256;  // keeps the view 256-byte aligned
inline constexpr std::byte kCanary{0xA5};

// A backend tensor with canary bytes before and after it. An input remembers its contents
// after upload and must still hold them when the row ends.
class GuardedTensor {
public:
    GuardedTensor(Backend& backend, std::string name, DType dtype, Shape shape)
        : m_backend(&backend), m_name(std::move(name)) {
        const std::size_t bytes = static_cast<std::size_t>(qls::numel(shape)) * dtype_size(dtype);
        m_buffer = backend.allocate(bytes + 2 * kGuardBytes, Usage::Workspace, m_name);
        const std::vector<std::byte> canary(m_buffer.bytes(), kCanary);
        backend.copy_from_host(m_buffer.whole(DType::U8), canary);
        m_tensor = m_buffer.view(kGuardBytes, dtype, std::move(shape));
    }
    const Tensor& tensor() const { return m_tensor; }
    const std::string& name() const { return m_name; }

    void upload(std::span<const std::byte> bytes) { m_backend->copy_from_host(m_tensor, bytes); }
    void upload(std::span<const float> v) { upload(encode(v, m_tensor.dtype)); }
    void upload_i32(std::span<const std::int32_t> v) { upload(std::as_bytes(v)); }
    std::vector<std::byte> bytes() const {
        std::vector<std::byte> out(m_tensor.bytes());
        m_backend->copy_to_host(m_tensor, out);
        return out;
    }
    std::vector<float> floats() const {
        QLS_ASSERT(m_tensor.dtype == DType::F32, m_name, " is not F32");
        std::vector<float> out(static_cast<std::size_t>(m_tensor.numel()));
        m_backend->copy_to_host(m_tensor, std::as_writable_bytes(std::span(out)));
        return out;
    }
    void freeze() { m_frozen = bytes(); }

    void check(Checker& c) const {
        std::vector<std::byte> all(m_buffer.bytes());
        m_backend->copy_to_host(m_buffer.whole(DType::U8), all);
        const std::size_t end = kGuardBytes + m_tensor.bytes();
        for (std::size_t i = 0; i < all.size(); ++i)
            if ((i < kGuardBytes || i >= end) && all[i] != kCanary) {
                c.expect(false, m_name, ": guard byte ",
                         static_cast<std::int64_t>(i) - static_cast<std::int64_t>(kGuardBytes),
                         " (relative to the tensor start) overwritten");
                break;
            }
        if (!m_frozen.empty())
            c.expect(std::memcmp(m_frozen.data(), all.data() + kGuardBytes, m_frozen.size()) == 0, m_name,
                     ": input modified by the op");
    }

private:
    Backend* m_backend;
    std::string m_name;
    Buffer m_buffer;
    Tensor m_tensor;
    std::vector<std::byte> m_frozen;
};

// Every tensor of a row; check() looks at all canaries and inputs once the row is done.
class Tensors {
public:
    explicit Tensors(Backend& backend) : m_backend(backend) {}

    GuardedTensor& input(std::string name, DType dtype, Shape shape, std::span<const float> v) {
        GuardedTensor& t = m_items.emplace_back(m_backend, std::move(name), dtype, std::move(shape));
        t.upload(v);
        t.freeze();
        return t;
    }
    GuardedTensor& input_i32(std::string name, Shape shape, std::span<const std::int32_t> v) {
        GuardedTensor& t = m_items.emplace_back(m_backend, std::move(name), DType::I32, std::move(shape));
        t.upload_i32(v);
        t.freeze();
        return t;
    }
    GuardedTensor& input_bytes(std::string name, DType dtype, Shape shape, std::span<const std::byte> bytes) {
        GuardedTensor& t = m_items.emplace_back(m_backend, std::move(name), dtype, std::move(shape));
        t.upload(bytes);
        t.freeze();
        return t;
    }
    // An F32 tensor the op writes, pre-filled (NaN where the op must overwrite, old values
    // where it accumulates or works in place).
    GuardedTensor& output(std::string name, Shape shape, std::span<const float> initial) {
        GuardedTensor& t = m_items.emplace_back(m_backend, std::move(name), DType::F32, std::move(shape));
        t.upload(initial);
        return t;
    }
    GuardedTensor& output_nan(std::string name, Shape shape) {
        const std::vector<float> nan(static_cast<std::size_t>(qls::numel(shape)),
                                     std::numeric_limits<float>::quiet_NaN());
        return output(std::move(name), std::move(shape), nan);
    }
    void check(Checker& c) const {
        for (const GuardedTensor& t : m_items) t.check(c);
    }

private:
    Backend& m_backend;
    std::deque<GuardedTensor> m_items;  // stable addresses
};

// ---- comparisons ----

// Σ(got − ref)² / Σ ref² over the finite reference values, after: NaN in got fails, an
// infinite reference needs the same infinity, an infinite got needs an infinite reference.
// `norm_floor` stands in for Σ ref² when that is smaller: where the result is a cancellation
// of larger terms, fp32 rounding scales with the terms, not with what is left of them.
inline void expect_close(Checker& c, const std::string& what, std::span<const float> got,
                         std::span<const double> ref, double limit, double norm_floor = 0) {
    if (got.size() != ref.size()) {
        c.expect(false, what, ": ", got.size(), " values, reference has ", ref.size());
        return;
    }
    double err = 0, norm = 0, worst = -1;
    std::size_t worst_i = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (std::isnan(got[i]) && !std::isnan(ref[i])) {
            c.expect(false, what, ": NaN at ", i, " (want ", ref[i], ")");
            return;
        }
        if (std::isinf(ref[i]) || std::isinf(got[i])) {
            c.expect(static_cast<double>(got[i]) == ref[i], what, ": at ", i, " got ", got[i], ", want ",
                     ref[i]);
            continue;
        }
        if (std::isnan(ref[i])) continue;
        const double d = static_cast<double>(got[i]) - ref[i];
        err += d * d;
        norm += ref[i] * ref[i];
        if (std::fabs(d) > worst) worst = std::fabs(d), worst_i = i;
    }
    norm = std::max(norm, norm_floor);
    const double nmse = norm > 0 ? err / norm : err;
    c.record_nmse(nmse, limit);
    c.expect(nmse <= limit, what, ": NMSE ", nmse, " > ", limit, " (worst at ", worst_i, ": got ",
             got.empty() ? 0.0 : got[worst_i], ", want ", ref.empty() ? 0.0 : ref[worst_i], ")");
}

inline void expect_close(Checker& c, const std::string& what, std::span<const float> got,
                         std::span<const float> ref, double limit) {
    expect_close(c, what, got, widen(ref), limit);
}

inline void expect_finite(Checker& c, const std::string& what, std::span<const float> got) {
    for (std::size_t i = 0; i < got.size(); ++i)
        if (!std::isfinite(got[i])) {
            c.expect(false, what, ": ", got[i], " at ", i);
            return;
        }
}

// Same bits (so -0.0 differs from +0.0): formats shared between backends are bit-exact.
inline void expect_bits(Checker& c, const std::string& what, std::span<const float> got,
                        std::span<const float> want) {
    if (got.size() != want.size()) {
        c.expect(false, what, ": ", got.size(), " values, want ", want.size());
        return;
    }
    for (std::size_t i = 0; i < got.size(); ++i)
        if (std::bit_cast<std::uint32_t>(got[i]) != std::bit_cast<std::uint32_t>(want[i])) {
            c.expect(false, what, ": at ", i, " got ", got[i], ", want ", want[i]);
            return;
        }
}

// The reference of an accumulating output: what it held before plus the op's part.
inline std::vector<double> plus(std::span<const double> a, std::span<const float> b) {
    std::vector<double> s(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) s[i] = a[i] + b[i];
    return s;
}

template <typename T>
std::vector<T> sampled(std::span<const T> v, std::span<const std::size_t> idx) {
    std::vector<T> out;
    for (std::size_t i : idx) out.push_back(v[i]);
    return out;
}

// Central differences `fd` at the sampled `idx` check the backend's gradient `got` where the
// op overwrote it. Where it accumulated (got empty) they check the reference `want` instead,
// which the caller compared with the backend in full: subtracting the old contents back out
// would lose small gradients to fp32 rounding.
inline void expect_fd(Checker& c, const std::string& what, std::span<const float> got,
                      std::span<const double> want, std::span<const std::size_t> idx,
                      std::span<const double> fd, double limit) {
    if (!got.empty()) {
        expect_close(c, what + " vs central differences", sampled(got, idx), fd, limit);
        return;
    }
    double err = 0, norm = 0;
    for (std::size_t k = 0; k < idx.size(); ++k) {
        err += (want[idx[k]] - fd[k]) * (want[idx[k]] - fd[k]);
        norm += fd[k] * fd[k];
    }
    // Both in double; a gradient that is a near-cancellation keeps ~1e-6 relative error.
    c.expect(err <= 1e-10 * std::max(norm, 1e-300), what,
             ": reference gradient vs central differences: NMSE ", err / norm);
}

}  // namespace qls::test::ops
