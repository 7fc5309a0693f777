// The hyperparameter flags shared by qlora train and qlora estimate: they fill a TrainConfig
// (starting from defaults or a run.json) so both commands accept the same spelling.
#pragma once
#include <string>
#include <vector>

#include "app/cli_commands.h"
#include "core/train/train_config.h"

// The flags as usage text, a literal so each command's usage can end with it.
#define QLS_TRAIN_OPTIONS_HELP \
    "  model and data:\n" \
    "    --model PATH          base model (HF folder, bitsandbytes 4-bit folder or .gguf)\n" \
    "    --data FILE           training data (.jsonl, .json, .csv)\n" \
    "    --valid-data FILE     validation data (default: --valid-fraction of --data)\n" \
    "    --valid-fraction F    default 0.05\n" \
    "    --form NAME           auto|alpaca|chat|sharegpt|prompt-completion|text (default auto)\n" \
    "    --template NAME       model|chatml|llama3|llama2|alpaca|zephyr|raw (default model)\n" \
    "    --field NAME=COLUMN   map a field (instruction, input, output, messages, prompt, completion, text)\n" \
    "    --max-seq-len N       tokens per example (default 512)\n" \
    "    --train-on-inputs     train on prompt tokens too\n" \
    "    --packing             pack short examples into one row\n" \
    "    --drop-long           drop over-long examples instead of truncating them\n" \
    "    --stop-on-bad-data    stop at the first bad record instead of skipping it\n" \
    "  base weights and LoRA:\n" \
    "    --quant nf4|fp4|none  4-bit format of the frozen base (default nf4)\n" \
    "    --no-double-quant     plain fp32 absmax\n" \
    "    --blocksize N         default 64\n" \
    "    --requantize-gguf     a GGUF base stored in Q4_0, Q4_K, Q8_0...: re-quantize it with --quant\n" \
    "                          (default: train on the file's own blocks, no second rounding error)\n" \
    "    --rank N --alpha A --dropout P --rslora --targets q,k,v,o,gate,up,down\n" \
    "  optimization:\n" \
    "    --lr X --weight-decay X --max-grad-norm X --adam-beta1 X --adam-beta2 X --adam-eps X\n" \
    "    --schedule constant|linear|cosine --warmup-steps N --warmup-ratio R\n" \
    "    --micro-batch N --grad-accum N --epochs E --max-steps N --seed N\n" \
    "    --eval-every N --save-every N --keep-checkpoints N\n" \
    "    --early-stop-patience N --early-stop-min-delta X\n" \
    "    --no-gradient-checkpointing\n" \
    "    --offload-checkpoints off|on|auto  keep checkpointed layer inputs in host memory between\n" \
    "                              forward and backward (same results, less device memory); auto\n" \
    "                              (default) turns it on when the estimate does not fit\n" \
    "                              --device-limit-mib without it\n" \
    "  device and memory:\n" \
    "    --device auto|cpu|cuda[:N]  where to run (default auto: a CUDA device when this build has a\n" \
    "                              CUDA backend and one is present, else the CPU; it says which)\n" \
    "    --compute-dtype auto|fp32|bf16|fp16  activations and dequantized weights (default auto: bf16\n" \
    "                              on GPUs that have it, fp16 on older ones, fp32 on the CPU; fp16\n" \
    "                              scales the loss dynamically and skips steps that overflow)\n" \
    "    --initial-loss-scale X    fp16's loss scale at the start (default 65536)\n" \
    "    --optimizer-budget-mib N  device memory for optimizer state; the rest is paged to the host\n" \
    "    --page-kib N              optimizer page size (default 1024)\n" \
    "    --device-limit-mib N      simulated device size (CPU backend)\n"

namespace qls::cli {

const std::vector<std::string>& train_flags();
const std::vector<std::string>& train_options();
// Applies every given flag/option to `config`; UsageError for a malformed number.
void apply_train_options(const Args& args, TrainConfig& config);

}  // namespace qls::cli
