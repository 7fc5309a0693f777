// Row and element moves: the embedding lookup (nn.Embedding), gather/scatter of rows by index,
// and dst += src, matching core/backend/cpu/cpu_embedding.cpp and cpu_backend.cpp: each value is
// read as fp32 and stored rounded once (kernels/math/float_store.h), so the results equal the
// CPU's bits; gather and scatter copy bytes.
// N tokens, C channels, V vocab.
#include "kernels/cuda_check.h"
#include "kernels/cuda_ops.h"
#include "kernels/math/float_ops.h"
#include "kernels/math/launch_plan.h"
#include "kernels/math/rows_math.h"

namespace qls::cuda {

namespace {

template <class Body>
__device__ void grid_stride(std::int64_t items, Body body) {
    const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
    for (std::int64_t w = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; w < items; w += stride)
        body(w);
}

__global__ void embedding_kernel(const std::int32_t* tokens, const void* table, kmath::Elem te, void* out,
                                 kmath::Elem oe, std::int64_t cols, std::int64_t items) {
    grid_stride(items, [&](std::int64_t w) {
        const std::int64_t t = w / cols, c = w % cols;
        kmath::store(out, oe, w, kmath::load(table, te, std::int64_t(tokens[t]) * cols + c));
    });
}

// Copies `count` rows of `units` units of unit_bytes each (kernels/math/rows_math.h).
__global__ void move_rows_kernel(const void* src, void* dst, const std::int32_t* rows, bool scatter,
                                 std::int64_t units, int unit_bytes, std::int64_t items) {
    grid_stride(items, [&](std::int64_t w) {
        const kmath::RowMove mv = kmath::row_move(w, units, rows, scatter);
        const std::int64_t from = mv.from, to = mv.to;
        switch (unit_bytes) {
            case 4:
                static_cast<std::uint32_t*>(dst)[to] = static_cast<const std::uint32_t*>(src)[from];
                break;
            case 2:
                static_cast<std::uint16_t*>(dst)[to] = static_cast<const std::uint16_t*>(src)[from];
                break;
            default:
                static_cast<std::uint8_t*>(dst)[to] = static_cast<const std::uint8_t*>(src)[from];
                break;
        }
    });
}

__global__ void add_kernel(void* dst, kmath::Elem de, const void* src, kmath::Elem se, std::int64_t items) {
    grid_stride(items, [&](std::int64_t w) {
        kmath::store(dst, de, w, kmath::add(kmath::load(dst, de, w), kmath::load(src, se, w)));
    });
}

unsigned blocks_for(std::int64_t items) {
    return static_cast<unsigned>(kmath::elementwise_blocks(items, kmath::kElementwiseThreads));
}

void move_rows(const Tensor& src, const Tensor& rows, const Tensor& dst, bool scatter, cudaStream_t s) {
    const std::int64_t count = rows.numel();
    const std::size_t row_bytes =
        dst.bytes() / static_cast<std::size_t>(std::max<std::int64_t>(1, dst.rows()));
    if (count == 0 || row_bytes == 0) return;
    const int unit = kmath::row_unit_bytes(row_bytes, reinterpret_cast<std::uintptr_t>(src.data),
                                           reinterpret_cast<std::uintptr_t>(dst.data));
    const auto units = static_cast<std::int64_t>(row_bytes / static_cast<std::size_t>(unit));
    const std::int64_t items = count * units;
    move_rows_kernel<<<blocks_for(items), kmath::kElementwiseThreads, 0, s>>>(
        src.data, dst.data, rows.ptr<const std::int32_t>(), scatter, units, unit, items);
    check_launch(scatter ? "scatter_rows" : "gather_rows", str_cat(describe(src), " -> ", describe(dst)));
}

}  // namespace

void embedding_forward(const EmbeddingArgs& a, cudaStream_t s) {
    const std::int64_t cols = a.table.dim(1), items = a.tokens.numel() * cols;
    if (items == 0) return;
    embedding_kernel<<<blocks_for(items), kmath::kElementwiseThreads, 0, s>>>(
        a.tokens.ptr<const std::int32_t>(), a.table.data, elem_of(a.table.dtype), a.out.data,
        elem_of(a.out.dtype), cols, items);
    check_launch("embedding_forward", str_cat(describe(a.table), " -> ", describe(a.out)));
}

void gather_rows(const Tensor& src, const Tensor& rows, const Tensor& dst, cudaStream_t s) {
    move_rows(src, rows, dst, false, s);
}

void scatter_rows(const Tensor& src, const Tensor& rows, const Tensor& dst, cudaStream_t s) {
    if (dst.bytes() > 0) QLS_CUDA_CHECK(cudaMemsetAsync(dst.data, 0, dst.bytes(), s));
    move_rows(src, rows, dst, true, s);
}

void add_inplace(const Tensor& dst, const Tensor& src, cudaStream_t s) {
    const std::int64_t items = dst.numel();
    if (items == 0) return;
    add_kernel<<<blocks_for(items), kmath::kElementwiseThreads, 0, s>>>(dst.data, elem_of(dst.dtype),
                                                                        src.data, elem_of(src.dtype), items);
    check_launch("add_inplace", describe(dst));
}

}  // namespace qls::cuda
