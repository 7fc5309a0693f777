// formats.md §1.3 and §2.6; bitsandbytes kernels.cu kDequantizeBlockwise (NF4/FP4 LUTs),
// functional.py dequantize_4bit.
#include "core/quant/dequantize_4bit.h"

#include <algorithm>
#include <cstring>

#include "core/quant/double_quant.h"
#include "core/util/error.h"
#include "core/util/half.h"
#include "core/util/parallel.h"

namespace qls {
std::array<float, 16> dequant_values(const Quantized4bit& q) {
    std::array<float, 16> v = q.quant_map;
    if (q.type == QuantType::FP4)
        for (std::size_t c = 8; c < 16; ++c) v[c] = -v[c - 8];
    return v;
}

void validate_quantized(const Quantized4bit& q) {
    QLS_CHECK(DataError, q.blocksize > 0, "4-bit tensor: blocksize ", q.blocksize);
    const std::int64_t n = q.numel();
    QLS_CHECK(DataError, n > 0, "4-bit tensor: empty shape ", q.shape);
    const std::size_t blocks = static_cast<std::size_t>(q.num_blocks());
    QLS_CHECK(DataError, q.packed.size() == static_cast<std::size_t>((n + 1) / 2),
              "4-bit tensor of shape ", q.shape, ": expected ", (n + 1) / 2,
              " packed bytes, got ", q.packed.size());
    const std::size_t have = q.nested ? q.nested->codes.size() : q.absmax.size();
    QLS_CHECK(DataError, have == blocks, "4-bit tensor of shape ", q.shape, " blocksize ",
              q.blocksize, ": expected ", blocks, " absmax entries, got ", have);
}

std::vector<float> dequantize_absmax(const Quantized4bit& q) {
    validate_quantized(q);
    return q.nested ? dequantize_nested(*q.nested) : q.absmax;
}

void dequantize_4bit(const Quantized4bit& q, std::span<float> out) {
    const std::vector<float> absmax = dequantize_absmax(q);
    QLS_CHECK(DataError, out.size() == static_cast<std::size_t>(q.numel()),
              "dequantize_4bit: output has ", out.size(), " elements, tensor has ", q.numel());
    const std::array<float, 16> values = dequant_values(q);
    const std::size_t bs = static_cast<std::size_t>(q.blocksize);
    parallel_for(absmax.size(), std::max<std::size_t>(1, 16384 / bs),
                 [&](std::size_t first, std::size_t last) {
                     for (std::size_t b = first; b < last; ++b) {
                         const std::size_t end = std::min(out.size(), (b + 1) * bs);
                         for (std::size_t i = b * bs; i < end; ++i) {
                             const std::uint8_t byte = q.packed[i / 2];
                             const int code = i % 2 == 0 ? byte >> 4 : byte & 15;
                             out[i] = values[static_cast<std::size_t>(code)] * absmax[b];
                         }
                     }
                 });
}

std::vector<float> dequantize_4bit(const Quantized4bit& q) {
    std::vector<float> out(static_cast<std::size_t>(q.numel()));
    dequantize_4bit(q, out);
    return out;
}

std::vector<std::byte> dequantize_4bit_to_dtype(const Quantized4bit& q) {
    const std::vector<float> values = dequantize_4bit(q);
    QLS_CHECK(DataError, q.dtype == DType::F32 || q.dtype == DType::BF16 || q.dtype == DType::F16,
              "dequantize_4bit: cannot produce dtype ", dtype_name(q.dtype));
    std::vector<std::byte> out(values.size() * dtype_size(q.dtype));
    if (q.dtype == DType::F32) {
        std::memcpy(out.data(), values.data(), out.size());
        return out;
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
        const std::uint16_t h =
            q.dtype == DType::BF16 ? f32_to_bf16(values[i]) : f32_to_f16(values[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return out;
}

}  // namespace qls
