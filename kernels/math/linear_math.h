// The arithmetic of the CUDA linear layer's own kernels (kernels/linear_epilogue.cu) and the host
// planning around its cuBLAS calls, shared with the CPU test (test_kernel_cores_linear.cpp):
// the one rounding of y = residual + x·Wᵀ + bias + LoRA (backend.h, "Precision"), the LoRA
// dropout mask at the element's index in the whole x (core/backend/dropout_mask.h, as
// cpu_linear.cpp applies it), the row chunks that bound the fp32 workspace, and the mapping of
// the CPU's row-major GEMMs (cpu::gemm) onto column-major cuBLAS.
//
// N rows, in/out features, R rows of one chunk.
#pragma once
#include <cstdint>

#include "core/backend/dropout_mask.h"
#include "kernels/math/float_store.h"

namespace qls::kmath {

// One stored element of the linear's output (or of dx): the fp32 sum of the GEMMs plus the bias
// and the residual (an accumulating dx reads itself as the residual), rounded once by the
// store. The residual may be the output itself: the same thread reads, then writes.
QLS_HD float linear_epilogue(float sum, bool has_bias, float bias, bool has_residual, float residual) {
    float v = sum;
    if (has_bias) v += bias;
    if (has_residual) v += residual;
    return v;
}

// The LoRA input in fp32: x · the dropout factor of its element (1 when p = 0). `index` is the
// element's index in the whole x tensor (row · in + column), whatever chunk it is processed in.
QLS_HD float lora_input_element(float x, std::uint64_t seed, std::uint64_t index, float p) {
    return x * dropout_factor(seed, index, p);
}

// a·b rounded on its own: the device compiler would otherwise fuse it with a following add
// into one FMA, which the host (and the CPU twin's `dx += dxd * factor`) rounds twice.
QLS_HD float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

// dx through the dropout: the gradient of LoRA's input (dropout(x)·Aᵀ path) times the same
// mask, added to the fp32 dx sum.
QLS_HD float dropout_backward_element(float acc, float dinput, std::uint64_t seed, std::uint64_t index,
                                      float p) {
    return acc + mul_rn(dinput, dropout_factor(seed, index, p));
}

// Rows of x processed together, so that the fp32 buffers (floats_per_row each row) stay under
// cap_floats; at least one row, all N when they fit.
struct RowChunks {
    std::int64_t rows = 0;   // rows per chunk (the last one may have fewer)
    std::int64_t count = 0;  // chunks
};
inline RowChunks plan_row_chunks(std::int64_t n, std::int64_t floats_per_row, std::int64_t cap_floats) {
    if (n <= 0) return {0, 0};
    std::int64_t rows = floats_per_row > 0 ? cap_floats / floats_per_row : n;
    if (rows < 1) rows = 1;
    if (rows > n) rows = n;
    return {rows, (n + rows - 1) / rows};
}

// A row-major GEMM as cpu::gemm takes it: C(m×n) = alpha·op(A)(m×k)·op(B)(k×n) + beta·C, each
// matrix row-major with its leading dimension (elements between rows).
struct RowMajorGemm {
    bool trans_a = false, trans_b = false;
    std::int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
};

// The same product as column-major BLAS (cuBLAS) computes it: a row-major matrix read
// column-major is its transpose, so Cᵀ(n×m) = op(B)ᵀ·op(A)ᵀ. The first operand is B, the
// second A; each is transposed exactly when the row-major one was.
struct ColumnMajorGemm {
    bool trans_first = false, trans_second = false;
    std::int64_t m = 0, n = 0, k = 0;
    std::int64_t ld_first = 0, ld_second = 0, ldc = 0;
};
inline ColumnMajorGemm to_column_major(const RowMajorGemm& g) {
    return {g.trans_b, g.trans_a, g.n, g.m, g.k, g.ldb, g.lda, g.ldc};
}

}  // namespace qls::kmath
