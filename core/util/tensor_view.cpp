#include "core/util/tensor_view.h"

#include <cstring>

#include "core/util/error.h"
#include "core/util/half.h"

namespace qls {

std::int64_t numel(const Shape& shape) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

void to_f32(const TensorView& t, std::span<float> out) {
    const auto n = static_cast<std::size_t>(t.numel());
    QLS_ASSERT(out.size() == n, "to_f32: output holds ", out.size(), " values, tensor ", n);
    QLS_ASSERT(t.data.size() == n * dtype_size(t.dtype), "to_f32: view of ", t.data.size(),
               " bytes for ", n, " x ", dtype_name(t.dtype));
    const std::byte* p = t.data.data();
    switch (t.dtype) {
        case DType::F32:
            std::memcpy(out.data(), p, n * 4);
            return;
        case DType::F64:
            for (std::size_t i = 0; i < n; ++i) {
                double v;
                std::memcpy(&v, p + 8 * i, 8);
                out[i] = static_cast<float>(v);
            }
            return;
        case DType::F16:
        case DType::BF16:
            for (std::size_t i = 0; i < n; ++i) {
                std::uint16_t h;
                std::memcpy(&h, p + 2 * i, 2);
                out[i] = t.dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
            }
            return;
        default:
            throw FormatError(str_cat("cannot convert a ", dtype_name(t.dtype), " tensor to F32"));
    }
}

std::vector<float> to_f32(const TensorView& t) {
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    to_f32(t, out);
    return out;
}

}  // namespace qls
