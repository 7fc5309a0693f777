// Tensors on their way into a file: a name with either a view of bytes owned elsewhere or
// bytes of its own. The safetensors writer and the 4-bit serializer speak this.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "core/util/tensor_view.h"

namespace qls {

struct OwnedTensor {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    std::vector<std::byte> data;  // numel * dtype_size bytes, row-major, little-endian

    TensorView view() const { return {dtype, shape, {data.data(), data.size()}}; }
};

struct NamedTensor {
    std::string name;
    TensorView view;
};

}  // namespace qls
