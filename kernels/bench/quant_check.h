// Checks of the 4-bit CUDA kernels, shared by tests/test_cuda_quant.cpp (Qt Test) and
// qls-bench-kernels (no Qt, so the lent GPU machine can run them): test inputs, kernel runs
// with poisoned and guarded outputs, the CPU reference driven by the GPU's own reciprocal,
// and exact comparisons that describe the first mismatch. Header-only so that both targets
// use it without another library.
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/io/named_tensor.h"
#include "core/quant/double_quant.h"
#include "core/quant/quantize_4bit.h"
#include "core/quant/torch_cuda_mean.h"
#include "core/util/error.h"
#include "core/util/half.h"
#include "kernels/dequantize_4bit.cuh"
#include "kernels/device_buffer.h"
#include "kernels/device_info.h"
#include "kernels/quantize_4bit.cuh"
#include "kernels/quantized_4bit_device.h"

namespace qls::cuda::check {

// ---- inputs ---------------------------------------------------------------------------------

enum class Dist {
    Normal,      // N(0, 1)
    StudentT,    // 3 degrees of freedom: heavy tails, a few large values per block
    ZeroBlocks,  // normal, with the first 128 values and every third 4096-chunk zero
    Ties,        // multiples of 1/8 in [-3, 3]: x / absmax hits FP4 thresholds exactly
};

inline std::string_view dist_name(Dist d) {
    switch (d) {
        case Dist::Normal:
            return "normal";
        case Dist::StudentT:
            return "student_t";
        case Dist::ZeroBlocks:
            return "zero_blocks";
        case Dist::Ties:
            return "ties";
    }
    return "?";
}

inline float draw(Dist dist, std::int64_t i, std::mt19937_64& rng) {
    switch (dist) {
        case Dist::Normal:
            return std::normal_distribution<float>()(rng);
        case Dist::StudentT:
            return std::student_t_distribution<float>(3.0f)(rng);
        case Dist::ZeroBlocks:
            if (i < 128 || (i / 4096) % 3 == 1) return 0.0f;
            return std::normal_distribution<float>()(rng);
        case Dist::Ties:
            return float(std::uniform_int_distribution<int>(-24, 24)(rng)) / 8.0f;
    }
    return 0.0f;
}

// Values of `dist`, rounded to dtype (F32, BF16 or F16) to nearest even.
inline OwnedTensor make_input(Dist dist, const Shape& shape, DType dtype, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const std::int64_t n = numel(shape);
    OwnedTensor t{std::string(dist_name(dist)), dtype, shape, {}};
    t.data.resize(std::size_t(n) * dtype_size(dtype));
    for (std::int64_t i = 0; i < n; ++i) {
        const float v = draw(dist, i, rng);
        std::byte* dst = t.data.data() + std::size_t(i) * dtype_size(dtype);
        if (dtype == DType::F32) {
            std::memcpy(dst, &v, 4);
        } else {
            const std::uint16_t h = dtype == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
            std::memcpy(dst, &h, 2);
        }
    }
    return t;
}

// ---- kernel runs with poisoned outputs ------------------------------------------------------

// Each output is run twice, poisoned with 0x00 and then 0xff, with guard bytes past its end:
// a byte the kernel did not write differs between the runs, a write past the end shows in
// the guard.
inline constexpr std::size_t kGuardBytes = 256;
inline constexpr std::uint8_t kPoisons[2] = {0x00, 0xff};

inline DeviceBuffer poisoned(std::size_t bytes, std::uint8_t poison) {
    DeviceBuffer b(bytes + kGuardBytes);
    b.fill(poison);
    return b;
}

template <typename T>
std::vector<T> read_guarded(const DeviceBuffer& b, std::size_t count, std::uint8_t poison,
                            std::string_view what) {
    const std::vector<std::uint8_t> all = to_host<std::uint8_t>(b);
    const std::size_t bytes = count * sizeof(T);
    for (std::size_t i = bytes; i < all.size(); ++i)
        QLS_CHECK(InternalError, all[i] == poison, what, ": byte ", i - bytes,
                  " past the end was overwritten");
    std::vector<T> out(count);
    std::memcpy(out.data(), all.data(), bytes);
    return out;
}

template <typename T>
void check_all_written(const std::vector<T>& a, const std::vector<T>& b, std::string_view what) {
    const auto at = std::mismatch(a.begin(), a.end(), b.begin());
    QLS_CHECK(InternalError, at.first == a.end(), what, ": element ", at.first - a.begin(), " of ", a.size(),
              " was not written (it kept the poison)");
}

// The GPU quantizer through its device entries. With double quant, the offset is the GPU's
// mean unless `offset` is given.
inline Quantized4bit gpu_quantize(const TensorView& input, QuantType type, int blocksize, bool double_quant,
                                  std::optional<float> offset = {}) {
    const std::int64_t n = input.numel();
    const std::int64_t blocks = (n + blocksize - 1) / blocksize;
    const std::int64_t nested_blocks = (blocks + 255) / 256;
    const DeviceBuffer d_in = to_device(input.data);
    const DeviceBuffer d_map = to_device(std::span<const float>(dynamic_signed_map()));
    Quantized4bit runs[2];
    for (int r = 0; r < 2; ++r) {
        const std::uint8_t p = kPoisons[r];
        DeviceBuffer packed = poisoned(std::size_t((n + 1) / 2), p);
        DeviceBuffer absmax = poisoned(std::size_t(blocks) * 4, p);
        quantize_4bit(
            {d_in.data(), input.dtype, n, type, blocksize, packed.as<std::uint8_t>(), absmax.as<float>()},
            nullptr);
        Quantized4bit& q = runs[r];
        q.type = type;
        q.blocksize = blocksize;
        q.dtype = input.dtype;
        q.shape = input.shape;
        q.quant_map = quant_values(type);
        q.packed = read_guarded<std::uint8_t>(packed, std::size_t((n + 1) / 2), p, "packed");
        q.absmax = read_guarded<float>(absmax, std::size_t(blocks), p, "absmax");
        if (!double_quant) continue;
        DeviceBuffer d_offset = poisoned(4, p);
        if (offset)
            d_offset.upload(std::as_bytes(std::span<const float>(&*offset, 1)));
        else
            absmax_mean(absmax.as<float>(), blocks, d_offset.as<float>(), nullptr);
        DeviceBuffer codes = poisoned(std::size_t(blocks), p);
        DeviceBuffer nested = poisoned(std::size_t(nested_blocks) * 4, p);
        double_quant_absmax({absmax.as<float>(), blocks, d_offset.as<float>(), d_map.as<float>(),
                             codes.as<std::uint8_t>(), nested.as<float>()},
                            nullptr);
        NestedAbsmax nest;
        nest.codes = read_guarded<std::uint8_t>(codes, std::size_t(blocks), p, "nested codes");
        nest.absmax = read_guarded<float>(nested, std::size_t(nested_blocks), p, "nested absmax");
        nest.code_map.assign(dynamic_signed_map().begin(), dynamic_signed_map().end());
        nest.offset = read_guarded<float>(d_offset, 1, p, "offset")[0];
        q.nested = std::move(nest);
        q.absmax.clear();
    }
    check_all_written(runs[0].packed, runs[1].packed, "packed");
    check_all_written(runs[0].absmax, runs[1].absmax, "absmax");
    if (double_quant) {
        check_all_written(runs[0].nested->codes, runs[1].nested->codes, "nested codes");
        check_all_written(runs[0].nested->absmax, runs[1].nested->absmax, "nested absmax");
    }
    return runs[1];
}

// The GPU dequantizer through its device entry, as raw bytes of out_dtype.
inline std::vector<std::uint8_t> gpu_dequantize(const Quantized4bit& q, DType out_dtype) {
    const Quantized4bitDevice d = Quantized4bitDevice::upload(q);
    const std::size_t bytes = std::size_t(d.n) * dtype_size(out_dtype);
    std::vector<std::uint8_t> runs[2];
    for (int r = 0; r < 2; ++r) {
        DeviceBuffer out = poisoned(bytes, kPoisons[r]);
        dequantize_4bit(d.dequantize_args(out.data(), out_dtype), nullptr);
        runs[r] = read_guarded<std::uint8_t>(out, bytes, kPoisons[r], "dequantized");
    }
    check_all_written(runs[0], runs[1], "dequantized byte");
    return runs[1];
}

// ---- the CPU reference with the GPU's reciprocal ----------------------------------------------

// The CPU quantizer takes the reciprocal as a plain function pointer, so the table it reads
// lives here. A first pass records which values it needs; the GPU computes rcp.approx of
// those; a second pass reads them back.
namespace detail {
inline std::mutex g_rcp_mutex;
inline std::vector<float> g_rcp_wanted;                 // guarded by g_rcp_mutex
inline std::unordered_map<std::uint32_t, float> g_rcp;  // read-only during a pass
inline std::size_t g_rcp_misses = 0;                    // guarded by g_rcp_mutex

inline float record_reciprocal(float a) {
    std::lock_guard lock(g_rcp_mutex);
    g_rcp_wanted.push_back(a);
    return reciprocal_rcp_approx_ftz(a);
}

inline float table_reciprocal(float a) {
    const auto it = g_rcp.find(std::bit_cast<std::uint32_t>(a));
    if (it != g_rcp.end()) return it->second;
    std::lock_guard lock(g_rcp_mutex);
    ++g_rcp_misses;
    return reciprocal_rcp_approx_ftz(a);
}
}  // namespace detail

inline Quantized4bit cpu_quantize(const TensorView& input, QuantType type, int blocksize, bool double_quant,
                                  std::optional<float> offset = {}) {
    detail::g_rcp_wanted.clear();
    quantize_4bit(input, type, blocksize, double_quant,
                  {.reciprocal = &detail::record_reciprocal, .offset = offset});
    std::vector<float> wanted = std::move(detail::g_rcp_wanted);
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    const std::vector<float> hw = reciprocal_approx_cuda(wanted);
    detail::g_rcp.clear();
    for (std::size_t i = 0; i < wanted.size(); ++i)
        detail::g_rcp[std::bit_cast<std::uint32_t>(wanted[i])] = hw[i];
    detail::g_rcp_misses = 0;
    Quantized4bit q = quantize_4bit(input, type, blocksize, double_quant,
                                    {.reciprocal = &detail::table_reciprocal, .offset = offset});
    QLS_CHECK(InternalError, detail::g_rcp_misses == 0, "cpu_quantize: ", detail::g_rcp_misses,
              " reciprocals were not in the table");
    return q;
}

// The CPU dequantization in out_dtype, as raw bytes.
inline std::vector<std::uint8_t> cpu_dequantize(const Quantized4bit& q, DType out_dtype) {
    const std::vector<float> v = dequantize_4bit(q);
    std::vector<std::uint8_t> out(v.size() * dtype_size(out_dtype));
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (out_dtype == DType::F32) {
            std::memcpy(out.data() + 4 * i, &v[i], 4);
        } else {
            const std::uint16_t h = out_dtype == DType::BF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
            std::memcpy(out.data() + 2 * i, &h, 2);
        }
    }
    return out;
}

// ---- comparisons --------------------------------------------------------------------------

inline std::uint32_t bits(float v) {
    return std::bit_cast<std::uint32_t>(v);
}
inline std::uint32_t bits(std::uint8_t v) {
    return v;
}

// "" when equal bit for bit, else how many differ and the first one, in hex.
template <typename T>
std::string compare_exact(std::span<const T> got, std::span<const T> want, std::string_view what) {
    if (got.size() != want.size()) return str_cat(what, ": ", got.size(), " values, expected ", want.size());
    std::size_t bad = 0, first = 0;
    for (std::size_t i = 0; i < got.size(); ++i)
        if (bits(got[i]) != bits(want[i]) && bad++ == 0) first = i;
    if (bad == 0) return {};
    char buf[64];
    std::snprintf(buf, sizeof buf, "got 0x%x, want 0x%x", bits(got[first]), bits(want[first]));
    return str_cat(what, ": ", bad, " of ", got.size(), " differ, first at ", first, ": ", buf);
}

template <typename T>
std::string compare_exact(const std::vector<T>& got, const std::vector<T>& want, std::string_view what) {
    return compare_exact(std::span<const T>(got), std::span<const T>(want), what);
}

// Floats within max_ulp units in the last place (same sign assumed: offsets are means of
// magnitudes).
inline std::string compare_ulp(float got, float want, std::uint32_t max_ulp, std::string_view what) {
    const std::int64_t d = std::int64_t(bits(got)) - std::int64_t(bits(want));
    if (std::abs(d) <= std::int64_t(max_ulp)) return {};
    return str_cat(what, ": got ", got, ", want ", want, " (", d, " ulp, allowed ", max_ulp, ")");
}

// Everything both quantizations hold, bit for bit.
inline std::vector<std::string> compare_quantized(const Quantized4bit& got, const Quantized4bit& want) {
    std::vector<std::string> out;
    auto add = [&](std::string s) {
        if (!s.empty()) out.push_back(std::move(s));
    };
    add(compare_exact(got.packed, want.packed, "packed"));
    add(compare_exact(got.absmax, want.absmax, "absmax"));
    if (got.nested.has_value() != want.nested.has_value()) {
        out.push_back("one is double-quantized, the other not");
        return out;
    }
    if (got.nested) {
        add(compare_exact(got.nested->codes, want.nested->codes, "nested codes"));
        add(compare_exact(got.nested->absmax, want.nested->absmax, "nested absmax"));
        add(compare_exact(got.nested->code_map, want.nested->code_map, "nested code map"));
        add(compare_ulp(got.nested->offset, want.nested->offset, 0, "offset"));
    }
    return out;
}

// ---- random cases against the CPU reference ------------------------------------------------

struct RandomCase {
    Dist dist = Dist::Normal;
    Shape shape;
    DType dtype = DType::F32;
    QuantType type = QuantType::NF4;
    int blocksize = 64;
    bool nested = false;
    std::uint64_t seed = 0;

    std::string name() const {
        return str_cat(dist_name(dist), " ", shape, " ", dtype_name(dtype), " ", quant_type_name(type), " bs",
                       blocksize, nested ? " dq" : " sq");
    }
};

// GPU quantization equal to the CPU reference bit for bit (with the GPU's offset, which is
// also checked against the CPU's mean), and GPU dequantization of the reference equal to the
// CPU's in F32, BF16 and F16.
inline std::vector<std::string> check_against_cpu(const RandomCase& c) {
    const OwnedTensor input = make_input(c.dist, c.shape, c.dtype, c.seed);
    const TensorView in = input.view();
    const Quantized4bit got = gpu_quantize(in, c.type, c.blocksize, c.nested);
    const std::optional<float> offset = c.nested ? std::optional<float>(got.nested->offset) : std::nullopt;
    const Quantized4bit want = cpu_quantize(in, c.type, c.blocksize, c.nested, offset);
    std::vector<std::string> out = compare_quantized(got, want);
    auto add = [&](std::string s) {
        if (!s.empty()) out.push_back(std::move(s));
    };
    if (c.nested) {
        // Both follow torch's order (core/quant/torch_cuda_mean.h) for this device's SM count.
        const float mean = torch_cuda_mean(quantize_4bit(in, c.type, c.blocksize).absmax,
                                           device_info().multiprocessors);
        add(compare_ulp(got.nested->offset, mean, 0, "GPU mean vs CPU mean"));
    }
    for (const DType dt : {DType::F32, DType::BF16, DType::F16})
        add(compare_exact(gpu_dequantize(want, dt), cpu_dequantize(want, dt),
                          str_cat("dequant to ", dtype_name(dt))));
    for (std::string& s : out) s = c.name() + ": " + s;
    return out;
}

}  // namespace qls::cuda::check
