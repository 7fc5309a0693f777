// `qlora quantize`: argument parsing for quantize_checkpoint (core/quant/quantize_checkpoint.h).
#include <cstdio>
#include <string>
#include <vector>

#include "app/cli_commands.h"
#include "app/cli_progress.h"
#include "core/quant/quantize_checkpoint.h"

namespace qls::cli {

extern const char* const kQuantizeUsage;
int run_quantize(const std::vector<std::string>& args);

const char* const kQuantizeUsage =
    "usage: qlora quantize INPUT --type nf4|fp4 [--blocksize N] [--double-quant]\n"
    "                      [--tensors REGEX] [--compute-dtype bfloat16|float16|float32] --out OUT\n"
    "\n"
    "Quantize a Hugging Face model folder (its q/k/v/o/gate/up/down weights) or a .safetensors\n"
    "file (every 2-D float tensor) to bitsandbytes 4-bit, written as transformers saves a\n"
    "pre-quantized checkpoint: OUT/model.safetensors, plus config.json with quantization_config\n"
    "and the tokenizer files for a model folder.\n"
    "  --type T          nf4 or fp4\n"
    "  --blocksize N     elements per absmax block, a power of two in [32, 4096] (default 64)\n"
    "  --double-quant    quantize the absmax values again (8-bit, blocks of 256)\n"
    "  --tensors REGEX   only tensors whose name matches (ECMAScript regex, searched)\n"
    "  --compute-dtype D bnb_4bit_compute_dtype written to config.json (default bfloat16). transformers\n"
    "                    computes in it and does not easily let a loader override it: for CPUs without\n"
    "                    bf16 (most fp32-only CPUs) write --compute-dtype float32\n"
    "  --out OUT         output folder (replaced atomically)\n";

int run_quantize(const std::vector<std::string>& args) {
    const Args a(args, {"double-quant"}, {"type", "blocksize", "tensors", "compute-dtype", "out"});
    a.expect_positional(1);
    const auto type = a.option("type");
    if (!type || (*type != "nf4" && *type != "fp4")) throw UsageError("--type must be nf4 or fp4");
    const auto out = a.option("out");
    if (!out) throw UsageError("--out is required");

    QuantizeCheckpointOptions o;
    o.type = *type == "nf4" ? QuantType::NF4 : QuantType::FP4;
    o.double_quant = a.flag("double-quant");
    o.tensor_regex = a.option("tensors");
    if (auto d = a.option("compute-dtype")) o.compute_dtype = *d;
    if (auto b = a.option("blocksize")) {
        std::size_t used = 0;
        try {
            o.blocksize = std::stoi(*b, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != b->size()) throw UsageError("--blocksize must be an integer, got '" + *b + "'");
    }

    const QuantizeSummary s =
        quantize_checkpoint(a.positional()[0], *out, o, terminal_progress("quantizing tensors"));
    std::printf("%zu tensors quantized (%.1f MB -> %.1f MB), %zu kept; wrote %s\n", s.quantized,
                double(s.bytes_in) / 1e6, double(s.bytes_out) / 1e6, s.kept, out->c_str());
    // transformers computes in the recorded dtype, and a loader cannot easily change it.
    std::printf("compute dtype %s (bnb_4bit_compute_dtype in config.json)%s\n", o.compute_dtype.c_str(),
                o.compute_dtype == "bfloat16"
                    ? ": on a CPU without bf16, quantize again with --compute-dtype float32"
                    : "");
    return 0;
}

}  // namespace qls::cli
