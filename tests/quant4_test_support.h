// Shared by the tests of Backend::quantize_weight (test_quantize_weight on the CPU,
// test_cuda_quant on a GPU): a Quant4View read back from any backend as a host Quantized4bit,
// the op run on freshly allocated arrays poisoned beforehand (so an unwritten byte shows), and
// a bit-for-bit comparison that names the first difference.
#pragma once
#include <bit>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/quant4_arrays.h"
#include "core/quant/dequantize_4bit.h"
#include "core/util/half.h"

namespace qls::test {

template <typename T>
std::vector<T> read_back(Backend& be, const Tensor& t) {
    std::vector<T> out(t.bytes() / sizeof(T));
    be.copy_to_host(t, std::as_writable_bytes(std::span<T>(out)));
    return out;
}

// The host form of a 4-bit weight on `be` (shape and dtype are the source's).
inline Quantized4bit read_quant4(Backend& be, const Quant4View& v, const Shape& shape, DType dtype) {
    Quantized4bit q;
    q.type = v.type;
    q.blocksize = static_cast<int>(v.blocksize);
    q.dtype = dtype;
    q.shape = shape;
    q.packed = read_back<std::uint8_t>(be, v.packed);
    const std::vector<float> map = read_back<float>(be, v.quant_map);
    std::copy(map.begin(), map.end(), q.quant_map.begin());
    if (!v.nested()) {
        q.absmax = read_back<float>(be, v.absmax);
        return q;
    }
    NestedAbsmax n;
    n.codes = read_back<std::uint8_t>(be, v.absmax_codes);
    n.absmax = read_back<float>(be, v.nested_absmax);
    n.code_map = read_back<float>(be, v.code_map);
    n.offset = v.offset;
    n.blocksize = static_cast<int>(v.nested_blocksize);
    q.nested = std::move(n);
    return q;
}

// Backend::quantize_weight of host bytes on `be`: source and workspace uploaded, every output
// array filled with 0xA5 first.
inline Quantized4bit quantize_on(Backend& be, const TensorView& src, QuantType type, int blocksize, bool dq) {
    const std::int64_t n = src.numel();
    std::vector<Buffer> storage;
    Quant4View v = allocate_quant4(be, storage, n, type, blocksize, dq, Usage::BaseWeights, "test weight");
    for (const Tensor* t :
         {&v.packed, &v.quant_map, &v.absmax, &v.absmax_codes, &v.nested_absmax, &v.code_map})
        if (!t->empty()) be.copy_from_host(*t, std::vector<std::byte>(t->bytes(), std::byte{0xA5}));
    const Buffer in = be.allocate(src.data.size(), Usage::Workspace, "test source");
    const Tensor t = in.view(0, src.dtype, src.shape);
    be.copy_from_host(t, src.data);
    const std::int64_t ws = quantize_weight_workspace_bytes(n, blocksize, dq);
    Buffer work;
    if (ws > 0) work = be.allocate(static_cast<std::size_t>(ws), Usage::Workspace, "test workspace");
    be.quantize_weight(t, ws > 0 ? work.view(0, DType::U8, {ws}) : Tensor{}, v);
    return read_quant4(be, v, src.shape, src.dtype);
}

// A value as the message shows it: floats with their bits, which is what differs.
inline std::string shown(std::uint8_t v) {
    return std::to_string(v);
}
inline std::string shown(float v) {
    char bits[16];
    std::snprintf(bits, sizeof bits, "%08x", std::bit_cast<std::uint32_t>(v));
    return str_cat(v, " = 0x", bits);
}

template <typename T>
std::string first_difference(const std::vector<T>& got, const std::vector<T>& want, const char* what) {
    if (got.size() != want.size()) return str_cat(what, ": ", got.size(), " values, expected ", want.size());
    std::size_t bad = 0, first = 0;
    for (std::size_t i = 0; i < got.size(); ++i)
        if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0 && bad++ == 0) first = i;
    if (bad == 0) return {};
    return str_cat(what, ": ", bad, " of ", got.size(), " differ, first at ", first, " (got ",
                   shown(got[first]), ", expected ", shown(want[first]), ")");
}

// Every array of two 4-bit weights bit for bit, the quant_map against the kernels' table
// (dequant_values of `want`); "" when equal.
inline std::string compare_quant4(const Quantized4bit& got, const Quantized4bit& want) {
    const std::array<float, 16> map = dequant_values(want);
    for (std::string s : {first_difference(got.packed, want.packed, "packed"),
                          first_difference(std::vector<float>(got.quant_map.begin(), got.quant_map.end()),
                                           std::vector<float>(map.begin(), map.end()), "quant_map"),
                          first_difference(got.absmax, want.absmax, "absmax")})
        if (!s.empty()) return s;
    if (got.nested.has_value() != want.nested.has_value()) return "one is double-quantized, the other not";
    if (!got.nested) return {};
    const NestedAbsmax &g = *got.nested, &w = *want.nested;
    for (std::string s :
         {first_difference(g.codes, w.codes, "absmax codes"),
          first_difference(g.absmax, w.absmax, "nested absmax"),
          first_difference(g.code_map, w.code_map, "code map"),
          first_difference(std::vector<float>{g.offset}, std::vector<float>{w.offset}, "offset")})
        if (!s.empty()) return s;
    return g.blocksize == w.blocksize ? std::string()
                                      : str_cat("nested blocksize ", g.blocksize, " vs ", w.blocksize);
}

// n values ~ N(0, 1) with every 7th row scaled by 100 (outlier rows), rounded to `dtype`.
inline std::vector<std::byte> random_weight(const Shape& shape, DType dtype, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal;
    const std::int64_t n = numel(shape), cols = shape.back();
    std::vector<std::byte> out(static_cast<std::size_t>(n) * dtype_size(dtype));
    for (std::int64_t i = 0; i < n; ++i) {
        const float v = normal(rng) * ((i / cols) % 7 == 3 ? 100.0f : 1.0f);
        std::byte* dst = out.data() + static_cast<std::size_t>(i) * dtype_size(dtype);
        if (dtype == DType::F32) {
            std::memcpy(dst, &v, 4);
        } else {
            const std::uint16_t h = dtype == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
            std::memcpy(dst, &h, 2);
        }
    }
    return out;
}

}  // namespace qls::test
