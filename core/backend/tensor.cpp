#include "core/backend/tensor.h"

#include "core/util/error.h"

namespace qls {

std::size_t Tensor::bytes() const {
    QLS_ASSERT(contiguous(), "bytes of the strided view ", describe(*this));
    return static_cast<std::size_t>(numel()) * dtype_size(dtype);
}

Tensor Tensor::reshaped(Shape s) const {
    QLS_ASSERT(qls::numel(s) == numel(), "reshape ", describe(*this), " to ", s);
    // A strided view keeps its rows: only the shape within a row may change.
    QLS_ASSERT(contiguous() || (!s.empty() && s[0] == shape[0]), "reshape of the strided view ",
               describe(*this), " to ", s);
    return {data, dtype, std::move(s), contiguous() ? 0 : row_stride};
}

Tensor Tensor::head(std::int64_t count) const {
    QLS_ASSERT(!shape.empty() && count >= 0 && count <= shape[0], "head ", count, " of ", describe(*this));
    Shape s = shape;
    s[0] = count;
    return {data, dtype, std::move(s), row_stride};
}

Tensor Tensor::columns(std::int64_t begin, std::int64_t count) const {
    QLS_ASSERT(contiguous() && shape.size() == 2 && begin >= 0 && count >= 0 && begin + count <= shape[1],
               "columns ", begin, "+", count, " of ", describe(*this));
    return {data + static_cast<std::size_t>(begin) * dtype_size(dtype), dtype, Shape{shape[0], count}, shape[1]};
}

Tensor Tensor::row_slice(std::int64_t begin, std::int64_t count) const {
    QLS_ASSERT(contiguous(), "row_slice of the strided view ", describe(*this));
    std::int64_t r = rows(), c = cols();
    QLS_ASSERT(begin >= 0 && count >= 0 && begin + count <= r, "row_slice ", begin, "+", count,
               " of ", describe(*this));
    std::size_t offset = static_cast<std::size_t>(begin * c) * dtype_size(dtype);
    return {data + offset, dtype, Shape{count, c}};
}

std::string describe(const Tensor& t) {
    return t.contiguous() ? str_cat(dtype_name(t.dtype), t.shape)
                          : str_cat(dtype_name(t.dtype), t.shape, " rows every ", t.row_stride);
}

}  // namespace qls
