// qls-measure-rcp: measures the GPU's rcp.approx.ftz.f32 (kernels/bnb_math.cuh bnb_rcp, the
// reciprocal bitsandbytes scales every block by) and writes the table that lets the CPU
// reproduce it (core/quant/rcp_approx.h).
//   1. Over the 2^23 mantissas of [1, 2): where the hardware differs from the correctly rounded
//      reciprocal, and by how much (more than one ulp would break the model: it stops).
//   2. Over all 2^32 floats: the CPU model, reciprocal_with_exceptions with that list, against
//      the hardware bit for bit (NaN against NaN).
// The full list (about 1.1 million mantissas on sm_90) is too large to ship; the table keeps the
// mantissas of 16-bit values (low 13 bits zero), which is every absmax of a bf16 or fp16 input.
//
//   qls-measure-rcp [--table FILE]   FILE: that table as C++ initializers (rcp_approx_table.inc)
#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "core/quant/rcp_approx.h"
#include "kernels/bnb_math.cuh"
#include "kernels/cuda_check.h"
#include "kernels/device_buffer.h"
#include "kernels/device_info.h"

using namespace qls;
using namespace qls::cuda;

namespace {

constexpr std::uint32_t kMantissas = 1u << 23;

// deltas[m]: bits of rcp.approx(1.m) minus bits of the correctly rounded 1/1.m.
__global__ void mantissa_deltas(int* deltas) {
    const std::uint32_t m = blockIdx.x * blockDim.x + threadIdx.x;
    if (m >= kMantissas) return;
    const float x = __uint_as_float(0x3f800000u | m);
    deltas[m] = static_cast<int>(__float_as_uint(bnb_rcp(x))) - static_cast<int>(__float_as_uint(__frcp_rn(x)));
}

__global__ void hardware_rcp(std::uint32_t first, std::uint32_t count, std::uint32_t* out) {
    for (std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x)
        out[i] = __float_as_uint(bnb_rcp(__uint_as_float(first + i)));
}

std::vector<std::uint32_t> measure_exceptions() {
    DeviceBuffer d(kMantissas * sizeof(int));
    mantissa_deltas<<<kMantissas / 256, 256>>>(d.as<int>());
    QLS_CUDA_CHECK(cudaGetLastError());
    std::vector<int> deltas(kMantissas);
    QLS_CUDA_CHECK(cudaMemcpy(deltas.data(), d.data(), kMantissas * sizeof(int), cudaMemcpyDeviceToHost));
    std::vector<std::uint32_t> entries;
    std::size_t far = 0;
    for (std::uint32_t m = 0; m < kMantissas; ++m) {
        if (deltas[m] == 0) continue;
        if (deltas[m] == 1 || deltas[m] == -1)
            entries.push_back(m << 1 | (deltas[m] == 1 ? 1u : 0u));
        else if (far++ < 10)
            std::printf("mantissa 0x%06x: rcp.approx is %d ulp from the rounded reciprocal\n", m, deltas[m]);
    }
    std::printf("mantissas: %zu of %u differ from the correctly rounded reciprocal by one ulp (%zu up), %zu by more\n",
                entries.size(), kMantissas,
                static_cast<std::size_t>(std::count_if(entries.begin(), entries.end(), [](auto e) { return e & 1u; })),
                far);
    if (far) throw Error("rcp.approx is more than one ulp off somewhere: the table model does not hold");
    return entries;
}

// Every float, in chunks: hardware on the GPU, the model on all CPU threads.
std::uint64_t verify_all_floats(const std::vector<std::uint32_t>& entries) {
    constexpr std::uint32_t kChunk = 1u << 28;
    DeviceBuffer d(std::size_t(kChunk) * sizeof(std::uint32_t));
    std::vector<std::uint32_t> hw(kChunk);
    std::atomic<std::uint64_t> mismatches{0};
    std::atomic<int> printed{0};
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    for (std::uint64_t first = 0; first < (1ull << 32); first += kChunk) {
        hardware_rcp<<<4096, 256>>>(static_cast<std::uint32_t>(first), kChunk, d.as<std::uint32_t>());
        QLS_CUDA_CHECK(cudaGetLastError());
        QLS_CUDA_CHECK(cudaMemcpy(hw.data(), d.data(), hw.size() * sizeof(std::uint32_t), cudaMemcpyDeviceToHost));
        std::vector<std::jthread> pool;
        for (unsigned t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                for (std::uint32_t i = t; i < kChunk; i += threads) {
                    const std::uint32_t bits = static_cast<std::uint32_t>(first + i);
                    const float x = std::bit_cast<float>(bits);
                    const float model = reciprocal_with_exceptions(x, entries);
                    const float h = std::bit_cast<float>(hw[i]);
                    const bool same = std::isnan(h) ? std::isnan(model) : std::bit_cast<std::uint32_t>(model) == hw[i];
                    if (same) continue;
                    ++mismatches;
                    if (printed++ < 20)
                        std::printf("  x = %a (0x%08x): hardware 0x%08x, model 0x%08x\n", x, bits, hw[i],
                                    std::bit_cast<std::uint32_t>(model));
                }
            });
    }
    return mismatches;
}

// The entries whose mantissa is that of a bf16 or fp16 value.
std::vector<std::uint32_t> sixteen_bit_entries(const std::vector<std::uint32_t>& entries) {
    std::vector<std::uint32_t> out;
    std::copy_if(entries.begin(), entries.end(), std::back_inserter(out),
                 [](std::uint32_t e) { return ((e >> 1) & 0x1fffu) == 0; });
    return out;
}

void write_table(const std::string& path, const std::vector<std::uint32_t>& entries, const std::string& device) {
    std::ofstream out(path);
    out << "// Generated by qls-measure-rcp (kernels/bench/measure_rcp.cu) on " << device << ".\n"
        << "// (mantissa << 1) | up for the " << entries.size()
        << " mantissas of 16-bit values where rcp.approx.ftz.f32 is not the rounded reciprocal.\n";
    for (std::size_t i = 0; i < entries.size(); ++i) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "0x%07x,", entries[i]);
        out << buf << ((i % 10 == 9 || i + 1 == entries.size()) ? "\n" : " ");
    }
    if (!out.flush()) throw Error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        std::string table;
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            if (a == "--table" && i + 1 < argc) table = argv[++i];
            else throw Error("usage: qls-measure-rcp [--table FILE]");
        }
        const DeviceInfo info = device_info();
        const std::string device = info.name + " (sm_" + std::to_string(info.major * 10 + info.minor) + ")";
        std::printf("device: %s\n", device.c_str());
        const std::vector<std::uint32_t> entries = measure_exceptions();
        const std::uint64_t bad = verify_all_floats(entries);
        std::printf("%-8s the model against rcp.approx.ftz.f32 over all 2^32 floats: %llu differ\n",
                    bad ? "FAIL" : "PASS", static_cast<unsigned long long>(bad));
        const std::vector<std::uint32_t> shipped = sixteen_bit_entries(entries);
        const bool builtin = std::ranges::equal(shipped, rcp_approx_exceptions());
        std::printf("%-8s the built-in table (core/quant/rcp_approx_table.inc, %zu entries) is the measured one\n",
                    builtin ? "PASS" : "DIFFERS", shipped.size());
        if (!table.empty()) write_table(table, shipped, device);
        return bad ? 1 : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qls-measure-rcp: %s\n", e.what());
        return 2;
    }
}
