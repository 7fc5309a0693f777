// A typed, shaped, non-owning view of backend memory (host memory on the CPU backend, device
// memory on CUDA). Buffers own the bytes; model code passes Tensors to Backend ops.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/util/dtype.h"
#include "core/util/tensor_view.h"

namespace qls {

struct Tensor {
    std::byte* data = nullptr;
    DType dtype = DType::F32;
    Shape shape;
    // Elements from one index of dimension 0 to the next; 0: packed. A column block of a
    // stacked activation (q of q|k|v, gate of gate|up) is a view with the stacked row's pitch.
    std::int64_t row_stride = 0;

    bool empty() const { return data == nullptr; }
    std::int64_t numel() const { return qls::numel(shape); }
    // Elements of one index of dimension 0, and the distance between two of them.
    std::int64_t row_elements() const { return shape.empty() || shape[0] == 0 ? 0 : numel() / shape[0]; }
    std::int64_t row_pitch() const { return row_stride ? row_stride : row_elements(); }
    bool contiguous() const { return row_stride == 0 || row_stride == row_elements(); }
    // Bytes of a contiguous tensor (a strided view has no single byte range).
    std::size_t bytes() const;
    std::int64_t dim(std::size_t i) const { return shape.at(i); }
    std::int64_t rows() const { return shape.empty() ? 0 : numel() / shape.back(); }
    std::int64_t cols() const { return shape.empty() ? 0 : shape.back(); }
    template <typename T>
    T* ptr() const { return reinterpret_cast<T*>(data); }
    // The same bytes under another shape with the same element count.
    Tensor reshaped(Shape s) const;
    // The first `count` entries along dimension 0 (rows of a matrix, elements of a vector).
    Tensor head(std::int64_t count) const;
    // Rows [begin, begin + count) of a tensor viewed as (rows, cols).
    Tensor row_slice(std::int64_t begin, std::int64_t count) const;
    // Columns [begin, begin + count) of a contiguous (rows, cols) matrix, as a strided view.
    Tensor columns(std::int64_t begin, std::int64_t count) const;
};

std::string describe(const Tensor& t);  // "F32[4, 96]"

}  // namespace qls
