#include "app/cli_commands.h"

namespace qls::cli {

const std::vector<Command>& commands() {
    static const std::vector<Command> table = {
        {"inspect", "architecture, parameters, tokenizer, weight memory and NF4/FP4 error per layer",
         kInspectUsage, run_inspect},
        {"bench", "benchmarks: quant", kBenchUsage, run_bench},
    };
    return table;
}

}  // namespace qls::cli
