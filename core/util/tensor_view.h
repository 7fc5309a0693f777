// A typed, shaped view of bytes owned elsewhere (a memory-mapped file, a vector).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/util/dtype.h"

namespace qls {

using Shape = std::vector<std::int64_t>;

std::int64_t numel(const Shape& shape);

struct TensorView {
    DType dtype = DType::F32;
    Shape shape;
    std::span<const std::byte> data;  // row-major, little-endian, numel * dtype_size bytes

    std::int64_t numel() const { return qls::numel(shape); }
    template <typename T>
    std::span<const T> as() const {
        return {reinterpret_cast<const T*>(data.data()), data.size() / sizeof(T)};
    }
};

// Convert a floating-point view (F32, F16, BF16, F64) to fp32; throws FormatError otherwise.
std::vector<float> to_f32(const TensorView& t);
// Same, writing into out (out.size() == t.numel()).
void to_f32(const TensorView& t, std::span<float> out);

}  // namespace qls
