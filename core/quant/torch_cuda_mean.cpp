// PyTorch aten/src/ATen/native/cuda/Reduce.cuh for one output over a contiguous float32 input;
// the loops mirror the kernel's thread / block / grid tree so every float addition happens in
// the kernel's order.
#include "core/quant/torch_cuda_mean.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/util/error.h"

namespace qls {
namespace {

constexpr std::int64_t k_max_threads = 512;  // mnt_wrapper<float>::MAX_NUM_THREADS
constexpr std::int64_t k_vec = 4;            // vt0 = input_vec_size = 4 accumulators per thread
constexpr std::int64_t k_vectorize_from = 128;  // `dim0 >= 128` (older CUDA builds: > 128)
constexpr std::int64_t k_threads_per_sm = 2048;
constexpr std::int64_t k_min_values_per_thread = 16;
constexpr std::int64_t k_max_values_per_thread = 256;

std::int64_t div_up(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

std::int64_t last_pow2(std::int64_t n) {
    std::int64_t p = 1;
    while (p * 2 <= n) p *= 2;
    return p;
}

// The accumulators folded left to right at the end of a thread's loop.
float fold(const std::array<float, k_vec>& acc) { return ((acc[0] + acc[1]) + acc[2]) + acc[3]; }

// input_vectorized_thread_reduce_impl (a fresh allocation is aligned: no head): accumulator i
// sums element i of the thread's vectors; the n % 4 tail goes to accumulator 0 of the first
// threads of CTA 0.
float vectorized_thread_sum(std::span<const float> x, const TorchMeanLaunch& l, std::int64_t thread,
                            std::int64_t cta) {
    const auto n = static_cast<std::int64_t>(x.size());
    std::array<float, k_vec> acc{};
    const std::int64_t stride = l.threads * l.ctas;
    for (std::int64_t v = thread + cta * l.threads; v * k_vec + k_vec - 1 < n; v += stride)
        for (std::int64_t i = 0; i < k_vec; ++i) acc[i] += x[v * k_vec + i];
    const std::int64_t tail = n - n % k_vec + thread;
    if (cta == 0 && tail < n) acc[0] += x[tail];
    return fold(acc);
}

// thread_reduce_impl on a contiguous input (n < 128, one CTA): element thread + j * threads goes
// to accumulator j % 4, in the unrolled loop and in its tail alike.
float strided_thread_sum(std::span<const float> x, const TorchMeanLaunch& l, std::int64_t thread) {
    std::array<float, k_vec> acc{};
    std::int64_t j = 0;
    for (std::int64_t idx = thread; idx < static_cast<std::int64_t>(x.size()); idx += l.threads, ++j)
        acc[j % k_vec] += x[idx];
    return fold(acc);
}

// block_x_reduce: lane i adds lane i + offset for offset = threads / 2, ..., 1; through shared
// memory while offset >= 32, then by warp shuffles down, whose offsets also decrease since
// pytorch PR #164790 (Oct 2025; torch 2.11 measured). Builds before it, and after its revert in
// PR #181819 (Apr 2026), shuffle at offsets 1, 2, 4, ... and may differ in the last bit.
float block_sum(std::vector<float>& lanes) {
    for (std::size_t offset = lanes.size() / 2; offset >= 1; offset /= 2)
        for (std::size_t i = 0; i < offset; ++i) lanes[i] += lanes[i + offset];
    return lanes[0];
}

}  // namespace

TorchMeanLaunch torch_mean_launch(std::int64_t n, int multiprocessors) {
    TorchMeanLaunch l;
    l.vectorized = n >= k_vectorize_from;
    const std::int64_t dim0 = l.vectorized ? n / k_vec : n;
    l.threads = dim0 < k_max_threads ? last_pow2(dim0) : k_max_threads;
    const std::int64_t values_per_thread = div_up(n, l.threads);  // counted in floats
    if (values_per_thread >= k_max_values_per_thread) {
        const std::int64_t target_grid = multiprocessors * (k_threads_per_sm / l.threads);
        l.ctas = std::max(std::min(target_grid, div_up(values_per_thread, k_min_values_per_thread)),
                          div_up(values_per_thread, k_max_values_per_thread));
    }
    return l;
}

float torch_cuda_mean(std::span<const float> x, int multiprocessors) {
    const std::int64_t n = static_cast<std::int64_t>(x.size());
    QLS_CHECK(DataError, n >= 1 && n <= std::numeric_limits<std::int32_t>::max(),
              "torch_cuda_mean: ", n, " values, expected 1 to 2^31 - 1 (one 32-bit-indexed launch)");
    QLS_CHECK(DataError, multiprocessors >= 1, "torch_cuda_mean: ", multiprocessors,
              " multiprocessors");
    const TorchMeanLaunch l = torch_mean_launch(n, multiprocessors);
    std::vector<float> lanes(static_cast<std::size_t>(l.threads));
    std::vector<float> cta_sums(static_cast<std::size_t>(l.ctas));
    for (std::int64_t cta = 0; cta < l.ctas; ++cta) {
        for (std::int64_t t = 0; t < l.threads; ++t)
            lanes[t] = l.vectorized ? vectorized_thread_sum(x, l, t, cta) : strided_thread_sum(x, l, t);
        cta_sums[cta] = block_sum(lanes);
    }
    float sum = cta_sums[0];
    if (l.ctas > 1) {
        // global_reduce: in the last CTA, thread t sums the staged results t, t + threads, ...
        // in order, then the block reduces as before.
        std::fill(lanes.begin(), lanes.end(), 0.0f);
        for (std::int64_t c = 0; c < l.ctas; ++c) lanes[c % l.threads] += cta_sums[c];
        sum = block_sum(lanes);
    }
    const float factor = 1.0f / static_cast<float>(n);  // mean_kernel_impl, MeanOps::project
    return sum * factor;
}

}  // namespace qls
