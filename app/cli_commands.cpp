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
        {"export",
         "a run's adapter as PEFT folder, merged model, merged GGUF or GGUF LoRA; the run for axolotl",
         kExportUsage, run_export},
        {"generate", "generate text with a model, optionally with a LoRA adapter", kGenerateUsage, run_generate},
        {"eval", "loss and perplexity of a model (+ adapter) on a dataset", kEvalUsage, run_eval},
        {"compare", "runs side by side: losses, throughput, memory, time and the settings that differ",
         kCompareUsage, run_compare},
        {"estimate", "device memory of a QLoRA run by category, and whether it fits", kEstimateUsage, run_estimate},
        {"download", "fetch a model from the Hugging Face Hub into its cache", kDownloadUsage, run_download},
        {"push", "upload a run's adapter or an export to a Hugging Face repository", kPushUsage, run_push},
        {"bench", "benchmarks: quant, tokenize", kBenchUsage, run_bench},
        {"doctor", "the program, its build, the host and every GPU: what to send with a bug report", kDoctorUsage,
         run_doctor},
    };
    return table;
}

}  // namespace qls::cli
