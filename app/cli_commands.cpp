#include "app/cli_commands.h"

namespace qls::cli {

const std::vector<Command>& commands() {
    static const std::vector<Command> table = {
        {"inspect", "architecture, parameters, tokenizer, weight memory and NF4/FP4 error per layer",
         kInspectUsage, run_inspect},
        {"quantize", "quantize a model or .safetensors file to bitsandbytes NF4/FP4", kQuantizeUsage,
         run_quantize},
        {"tokenize", "text on stdin to token ids, or a chat rendered through the model's template",
         kTokenizeUsage, run_tokenize},
        {"train", "QLoRA finetuning of a model on a dataset, into a run folder", kTrainUsage, run_train},
        {"bench", "benchmarks: quant, tokenize", kBenchUsage, run_bench},
    };
    return table;
}

}  // namespace qls::cli
