// qlora bench WHAT [options]: micro-benchmarks that validate first, then time, and report
// their ratio to a peer measured in the same run.
#include <cstdio>
#include <string>

#include "app/cli_commands.h"

namespace qls::cli {

namespace {

struct Bench {
    const char* name;
    int (*run)(const std::vector<std::string>&);
};

const Bench kBenches[] = {
    {"quant", run_bench_quant},
    {"tokenize", run_bench_tokenize},
    {"train", run_bench_train},
};

}  // namespace

const char* const kBenchUsage =
    "usage: qlora bench WHAT [options]\n"
    "  quant      NF4/FP4 quantization throughput, GB/s of bf16 input [--size N] [--reps R]\n"
    "  tokenize   encode speed, MB/s on one thread and on all threads\n"
    "  train      whole QLoRA training steps on random weights of a shape, on --device: step time,\n"
    "             tokens/s, load + quantize, memory, FLOP utilisation; --peer: next to peer_qlora.py's\n"
    "             (qlora bench train --help)\n";

int run_bench(const std::vector<std::string>& args) {
    if (args.empty()) throw UsageError("name what to benchmark");
    for (const auto& b : kBenches)
        if (args[0] == b.name) return b.run(std::vector<std::string>(args.begin() + 1, args.end()));
    throw UsageError("unknown benchmark '" + args[0] + "'");
}

}  // namespace qls::cli
