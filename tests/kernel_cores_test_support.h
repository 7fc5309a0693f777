// Shared by the CPU tests of the CUDA kernels' cores (tests/test_kernel_cores_*.cpp): host
// tensors in any dtype behind a qls::Tensor (so the CPU backend and a kernel replay each get
// their own copy), value comparisons with per-element bounds, and the stored dtypes' rounding.
#pragma once
#include <QtTest>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/backend/tensor.h"
#include "core/util/error.h"
#include "kernels/math/float_ops.h"
#include "kernels/math/float_store.h"

namespace qls::kernel_cores_test {

namespace km = qls::kmath;

inline constexpr double kU = 0x1p-24;

inline km::Elem elem(DType t) {
    return t == DType::BF16 ? km::Elem::BF16 : t == DType::F16 ? km::Elem::F16 : km::Elem::F32;
}

// One ulp of a 16-bit store relative to the value, and F16's subnormal spacing (the tests open with their
// tolerances).
inline double store_ulp(DType t) {
    return t == DType::BF16 ? 0x1p-7 : t == DType::F16 ? 0x1p-10 : 0.0;
}
inline double store_floor(DType t) {
    return t == DType::F16 ? 0x1p-24 : 0.0;
}

inline const char* dtype_tag(DType t) {
    return t == DType::BF16 ? "bf16" : t == DType::F16 ? "f16" : "f32";
}

// Host memory behind a packed Tensor of `shape` in `dtype` (strided views are its columns()),
// 4-byte aligned, copied by value so that the CPU backend and the kernel replay each get their own.
class HostTensor {
public:
    HostTensor(DType dtype, Shape shape) : m_dtype(dtype), m_shape(std::move(shape)) {
        m_words.assign((static_cast<std::size_t>(qls::numel(m_shape)) * dtype_size(m_dtype) + 3) / 4 + 1, 0u);
    }
    Tensor tensor() const {
        return Tensor{reinterpret_cast<std::byte*>(const_cast<std::uint32_t*>(m_words.data())), m_dtype,
                      m_shape};
    }
    const std::vector<std::uint32_t>& words() const { return m_words; }

private:
    DType m_dtype;
    Shape m_shape;
    std::vector<std::uint32_t> m_words;
};

// Element k of a tensor whose dimension-0 entries are row_pitch() apart (strided column blocks).
inline std::int64_t offset_of(const Tensor& t, std::int64_t k) {
    const std::int64_t re = t.row_elements();
    return k / re * t.row_pitch() + k % re;
}
inline void set_values(const Tensor& t, const std::vector<float>& v) {
    for (std::int64_t k = 0; k < t.numel(); ++k)
        km::store(t.data, elem(t.dtype), offset_of(t, k), v[static_cast<std::size_t>(k)]);
}
inline std::vector<float> values(const Tensor& t) {
    std::vector<float> v(static_cast<std::size_t>(t.numel()));
    for (std::int64_t k = 0; k < t.numel(); ++k)
        v[static_cast<std::size_t>(k)] = km::load(t.data, elem(t.dtype), offset_of(t, k));
    return v;
}
class Random {
public:
    explicit Random(unsigned seed) : m_gen(seed) {}
    std::vector<float> normal(std::size_t n, float sigma) {
        std::normal_distribution<float> d(0.0f, sigma);
        std::vector<float> v(n);
        for (float& x : v) x = d(m_gen);
        return v;
    }
    std::int64_t integer(std::int64_t lo, std::int64_t hi) {
        return std::uniform_int_distribution<std::int64_t>(lo, hi)(m_gen);
    }

private:
    std::mt19937 m_gen;
};

// got against want: NaN where want is NaN, the same infinity, else |got − want| <= tol[i].
// Logs how many were bit-equal, so a drift towards the bound shows.
inline void expect_within(const std::string& what, const std::vector<float>& got,
                          const std::vector<float>& want, const std::vector<double>& tol) {
    std::size_t equal = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const float g = got[i], w = want[i];
        equal += std::bit_cast<std::uint32_t>(g) == std::bit_cast<std::uint32_t>(w);
        if (std::isnan(w)) {
            if (!std::isnan(g))
                QFAIL(
                    qPrintable(QString::fromStdString(str_cat(what, ": at ", i, " got ", g, ", want NaN"))));
            continue;
        }
        if (std::isinf(w) || std::isinf(g)) {
            if (g != w)
                QFAIL(
                    qPrintable(QString::fromStdString(str_cat(what, ": at ", i, " got ", g, ", want ", w))));
            continue;
        }
        const double d = std::fabs(static_cast<double>(g) - w);
        if (!(d <= tol[i]))
            QFAIL(qPrintable(QString::fromStdString(
                str_cat(what, ": at ", i, " got ", g, ", want ", w, " (|diff| ", d, " > ", tol[i], ")"))));
    }
    qInfo("%s: %zu of %zu bit-equal", what.c_str(), equal, want.size());
}

inline void expect_bits(const std::string& what, const std::vector<std::uint32_t>& got,
                        const std::vector<std::uint32_t>& want) {
    for (std::size_t i = 0; i < want.size(); ++i)
        if (got[i] != want[i])
            QFAIL(qPrintable(QString::fromStdString(str_cat(what, ": word ", i, " differs"))));
}

inline double sum_f64(double a, double b) {
    return km::dadd(a, b);
}

}  // namespace qls::kernel_cores_test
