// `qlora bench quant`: CPU throughput of the NF4/FP4 quantizer (formats.md §1.2) on a bf16
// tensor, single-threaded and on all threads, with a plain bf16 -> fp32 conversion of the same
// bytes as the peer it is measured against. It validates before timing: the fast path must
// equal its scalar twin on the bench tensor.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "app/cli_commands.h"
#include "app/cli_timing.h"
#include "core/quant/quantize_4bit.h"
#include "core/util/half.h"
#include "core/util/parallel.h"

namespace qls::cli {
namespace {

std::vector<std::uint16_t> make_bf16(std::int64_t n) {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<std::uint16_t> out(static_cast<std::size_t>(n));
    for (std::uint16_t& v : out) v = f32_to_bf16(normal(rng));
    return out;
}

std::int64_t parse_size(const Args& args) {
    const std::string s = args.option("size").value_or("4096");
    std::size_t used = 0;
    long long v = 0;
    try {
        v = std::stoll(s, &used);
    } catch (const std::exception&) {
        throw UsageError("--size: expected a positive integer, got '" + s + "'");
    }
    if (used != s.size() || v <= 0 || v > 32768)
        throw UsageError("--size: expected an integer in 1..32768, got '" + s + "'");
    return v;
}

}  // namespace

int run_bench_quant(const std::vector<std::string>& args_in) {
    const Args args(args_in, {}, {"size", "reps"});
    args.expect_positional(0);
    const std::int64_t side = parse_size(args);
    const int reps = std::max(1, std::stoi(args.option("reps").value_or("3")));
    const std::vector<std::uint16_t> data = make_bf16(side * side);
    const TensorView view{DType::BF16, {side, side}, std::as_bytes(std::span(data))};
    const double gb = static_cast<double>(data.size() * 2) / 1e9;

    for (const QuantType t : {QuantType::NF4, QuantType::FP4})
        if (quantize_4bit(view, t, 64, true).packed != quantize_4bit_ref(view, t, 64, true).packed) {
            std::fprintf(stderr, "bench quant: fast path differs from the reference twin\n");
            return 1;
        }

    const std::size_t all = num_threads();
    std::printf("bf16 %lldx%lld (%.1f MB), blocksize 64, best of %d\n",
                static_cast<long long>(side), static_cast<long long>(side), gb * 1e3, reps);
    std::printf("%-10s %8s %10s %12s\n", "variant", "threads", "GB/s", "vs to_f32");
    for (const std::size_t threads : {std::size_t(1), all}) {
        set_num_threads(threads);
        std::vector<float> f32(data.size());
        const double peer = best_seconds(reps, [&] { to_f32(view, f32); });
        std::printf("%-10s %8zu %10.2f %12s\n", "to_f32", threads, gb / peer, "1.00");
        struct Variant { const char* name; QuantType type; bool dq; };
        for (const Variant v : {Variant{"NF4", QuantType::NF4, false},
                                Variant{"NF4+DQ", QuantType::NF4, true},
                                Variant{"FP4", QuantType::FP4, false}}) {
            const double s = best_seconds(reps, [&] { quantize_4bit(view, v.type, 64, v.dq); });
            std::printf("%-10s %8zu %10.2f %12.2f\n", v.name, threads, gb / s, peer / s);
        }
        if (all == 1) break;
    }
    set_num_threads(0);
    return 0;
}

}  // namespace qls::cli
