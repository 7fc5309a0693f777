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

    bool empty() const { return data == nullptr; }
    std::int64_t numel() const { return qls::numel(shape); }
    std::size_t bytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype); }
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
};

std::string describe(const Tensor& t);  // "F32[4, 96]"

}  // namespace qls
