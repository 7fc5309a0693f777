// Launch shapes of the row-wise and element-wise kernels, and the order of their block
// reductions, as plain functions the CPU tests check (tests/test_kernel_cores_elementwise.cpp).
// Every index is 64-bit: a logits matrix of N·V elements passes 2^31 for N = 70000, V = 32000.
#pragma once
#include <cstdint>

#include "kernels/math/host_device.h"

namespace qls::kmath {

constexpr int kWarpSize = 32;
// CUDA's grid.x limit (compute capability 3.0 and newer).
constexpr std::int64_t kMaxGridX = 2147483647;
// Element-wise kernels loop grid-stride past this many blocks: enough to fill any GPU many times.
constexpr std::int64_t kMaxElementwiseBlocks = std::int64_t(1) << 20;
constexpr int kElementwiseThreads = 256;

// Threads of a CTA that reduces one row of `cols` elements: a power of two (the reduction tree
// below halves it), at least a warp, at most max_threads (a power of two), and no wider than the
// row needs.
QLS_HD int row_threads(std::int64_t cols, int max_threads) {
    int t = kWarpSize;
    while (t < max_threads && t < cols) t *= 2;
    return t;
}

// One CTA per row, looping over rows blockIdx.x, blockIdx.x + gridDim.x, ... when they exceed
// grid.x's limit.
QLS_HD std::int64_t row_blocks(std::int64_t rows) {
    return rows < kMaxGridX ? rows : kMaxGridX;
}

// First element of row r of a (rows, cols) matrix: 64-bit, as every kernel index here.
QLS_HD std::int64_t row_base(std::int64_t r, std::int64_t cols) {
    return r * cols;
}

// Blocks of an element-wise grid-stride loop over `items`.
QLS_HD std::int64_t elementwise_blocks(std::int64_t items, int threads) {
    const std::int64_t b = (items + threads - 1) / threads;
    return b < kMaxElementwiseBlocks ? b : kMaxElementwiseBlocks;
}

// The reduction order of block_reduce (kernels/block_reduce.cuh) over the values of one CTA's
// n threads (a power of two): v[i] = merge(v[i], v[i + off]) for off = n/2, n/4, ..., 1; the
// result is v[0]. The device does the steps with off >= 32 in shared memory and the rest with
// warp shuffles (lane i reads lane i + off), which is the same tree. The CPU tests run this.
template <class T, class Merge>
T tree_reduce(T* v, int n, Merge merge) {
    for (int off = n / 2; off > 0; off /= 2)
        for (int i = 0; i < off; ++i) v[i] = merge(v[i], v[i + off]);
    return v[0];
}

}  // namespace qls::kmath
