// fp32 GEMM through OpenBLAS, and the conversions that feed it dense fp32 weights: 16-bit
// floats and bitsandbytes 4-bit blocks (formats.md §1.3, §2.6).
#include <cblas.h>

#include "core/backend/cpu/cpu_ops.h"
#include "core/util/half.h"
#include "core/util/parallel.h"

namespace qls::cpu {

// OpenBLAS runs single-threaded (cpu_backend.cpp): its own workers spin in sched_yield beside
// ours and took 40% of a training step on small matrices. The rows of C are split over our
// threads instead; each chunk is an independent GEMM, so results do not depend on the split.
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc) {
    if (m == 0 || n == 0) return;
    auto rows = [&](std::int64_t first, std::int64_t count) {
        // Row i of op(A) is row i of A, or column i of A when transposed.
        const float* a_rows = trans_a ? a + first : a + first * lda;
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    static_cast<blasint>(count), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a_rows,
                    static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c + first * ldc,
                    static_cast<blasint>(ldc));
    };
    const auto threads = static_cast<std::int64_t>(num_threads());
    if (threads <= 1 || m < 2 * threads || m * n * k < (1 << 18)) {
        rows(0, m);
        return;
    }
    const std::int64_t chunk = (m + threads - 1) / threads;
    parallel_for(static_cast<std::size_t>(threads), 1, [&](std::size_t first, std::size_t last) {
        for (std::size_t t = first; t < last; ++t) {
            const std::int64_t begin = static_cast<std::int64_t>(t) * chunk;
            if (begin < m) rows(begin, std::min(chunk, m - begin));
        }
    });
}

void to_f32(const Tensor& src, float* dst, std::int64_t first, std::int64_t count) {
    switch (src.dtype) {
        case DType::F32: {
            const float* s = src.ptr<const float>() + first;
            std::copy(s, s + count, dst);
            return;
        }
        case DType::BF16: {
            const auto* s = src.ptr<const std::uint16_t>() + first;
            for (std::int64_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(s[i]);
            return;
        }
        case DType::F16: {
            const auto* s = src.ptr<const std::uint16_t>() + first;
            for (std::int64_t i = 0; i < count; ++i) dst[i] = f16_to_f32(s[i]);
            return;
        }
        default: QLS_ASSERT(false, "to_f32: unsupported ", describe(src));
    }
}

void dequantize_4bit(const Quant4View& q, std::int64_t numel, float* out) {
    const std::int64_t bs = q.blocksize;
    const std::int64_t blocks = (numel + bs - 1) / bs;
    const float* values = q.quant_map.ptr<const float>();
    const std::uint8_t* packed = q.packed.ptr<const std::uint8_t>();
    parallel_for(static_cast<std::size_t>(blocks), std::max<std::int64_t>(1, 16384 / bs),
                 [&](std::size_t first, std::size_t last) {
        for (std::size_t bi = first; bi < last; ++bi) {
            const auto blk = static_cast<std::int64_t>(bi);
            float absmax;
            if (q.nested()) {
                absmax = q.code_map.ptr<const float>()[q.absmax_codes.ptr<const std::uint8_t>()[blk]] *
                             q.nested_absmax.ptr<const float>()[blk / q.nested_blocksize] +
                         q.offset;
            } else {
                absmax = q.absmax.ptr<const float>()[blk];
            }
            const std::int64_t end = std::min(numel, (blk + 1) * bs);
            for (std::int64_t i = blk * bs; i < end; ++i) {
                const std::uint8_t byte = packed[i / 2];
                out[i] = values[i % 2 == 0 ? byte >> 4 : byte & 15] * absmax;
            }
        }
    });
}

}  // namespace qls::cpu
