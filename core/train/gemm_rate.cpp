#include "core/train/gemm_rate.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "core/backend/dropout_mask.h"
#include "core/util/half.h"

namespace qls {

namespace {

// Values in [-1, 1) in `dtype`: not zeros, which some GEMMs run at a different power and clock.
std::vector<std::byte> random_values(std::int64_t count, DType dtype, std::uint64_t seed) {
    std::vector<std::byte> bytes(static_cast<std::size_t>(count) * dtype_size(dtype));
    for (std::int64_t i = 0; i < count; ++i) {
        const float v =
            static_cast<float>(static_cast<double>(mix64(seed + static_cast<std::uint64_t>(i)) >> 11) *
                               0x1p-52) -
            1.0f;
        if (dtype == DType::F32) {
            std::memcpy(bytes.data() + 4 * i, &v, 4);
        } else {
            const std::uint16_t h = dtype == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
            std::memcpy(bytes.data() + 2 * i, &h, 2);
        }
    }
    return bytes;
}

Tensor upload(Backend& backend, Buffer& storage, Shape shape, DType dtype, std::uint64_t seed) {
    const std::int64_t n = numel(shape);
    storage =
        backend.allocate(static_cast<std::size_t>(n) * dtype_size(dtype), Usage::Workspace, "GEMM rate");
    Tensor t = storage.view(0, dtype, std::move(shape));
    backend.copy_from_host(t, random_values(n, dtype, seed));
    return t;
}

}  // namespace

GemmRate measure_gemm_rate(Backend& backend, std::int64_t rows, std::int64_t in, std::int64_t out,
                           DType dtype, int reps) {
    QLS_ASSERT(reps >= 1 && rows > 0 && in > 0 && out > 0, "measure_gemm_rate: ", rows, "x", in, "x", out);
    Buffer x_storage, w_storage, y_storage;
    LinearWeight w;
    w.in = in;
    w.out = out;
    w.dense = upload(backend, w_storage, {out, in}, dtype, 1);
    LinearForwardArgs args;
    args.x = upload(backend, x_storage, {rows, in}, dtype, 2);
    args.weight = &w;
    y_storage = backend.allocate(static_cast<std::size_t>(rows * out) * dtype_size(dtype), Usage::Workspace,
                                 "GEMM rate");
    args.out = y_storage.view(0, dtype, {rows, out});

    constexpr int kUntimed = 2;  // first-call costs: library handles, kernel selection, page faults
    std::vector<double> times;
    for (int r = 0; r < kUntimed + reps; ++r) {
        backend.synchronize();
        const auto t0 = std::chrono::steady_clock::now();
        backend.linear_forward(args);
        backend.synchronize();
        if (r >= kUntimed)
            times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(times.begin(), times.end());
    GemmRate g;
    g.rows = rows;
    g.in = in;
    g.out = out;
    g.dtype = dtype;
    g.median_s = times[times.size() / 2];
    g.best_s = times.front();
    g.flops = 2.0 * static_cast<double>(rows) * static_cast<double>(in) * static_cast<double>(out);
    g.flops_per_s = g.flops / g.best_s;
    return g;
}

}  // namespace qls
