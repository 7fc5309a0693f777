#include "core/backend/tensor.h"

#include "core/util/error.h"

namespace qls {

Tensor Tensor::reshaped(Shape s) const {
    QLS_ASSERT(qls::numel(s) == numel(), "reshape ", describe(*this), " to ", s);
    return {data, dtype, std::move(s)};
}

Tensor Tensor::head(std::int64_t count) const {
    QLS_ASSERT(!shape.empty() && count >= 0 && count <= shape[0], "head ", count, " of ", describe(*this));
    Shape s = shape;
    s[0] = count;
    return {data, dtype, std::move(s)};
}

Tensor Tensor::row_slice(std::int64_t begin, std::int64_t count) const {
    std::int64_t r = rows(), c = cols();
    QLS_ASSERT(begin >= 0 && count >= 0 && begin + count <= r, "row_slice ", begin, "+", count,
               " of ", describe(*this));
    std::size_t offset = static_cast<std::size_t>(begin * c) * dtype_size(dtype);
    return {data + offset, dtype, Shape{count, c}};
}

std::string describe(const Tensor& t) { return str_cat(dtype_name(t.dtype), t.shape); }

}  // namespace qls
