// qlora eval MODEL [--adapter DIR] --data FILE [--json]: loss and perplexity over the trained
// tokens of a dataset, read with the same rules as training.
#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli_commands.h"
#include "app/cli_train_options.h"
#include "core/backend/cpu/cpu_backend.h"
#include "core/data/batch_sampler.h"
#include "core/export/peft_adapter.h"
#include "core/model/llama_model.h"
#include "core/model/model_loader.h"
#include "core/tokenizer/tokenizer.h"

namespace qls::cli {

const char* const kEvalUsage =
    "usage: qlora eval MODEL --data FILE [--adapter DIR] [--json] [data and base options]\n"
    "  Mean loss and perplexity over the trained (response) tokens of FILE.\n"
    "  --adapter DIR    a PEFT LoRA folder (ours or peft's) applied to the base\n"
    "  --json           print the result as JSON\n"
    "  --quant nf4|fp4|none, --max-seq-len, --template, --form, --field, --train-on-inputs,\n"
    "  --micro-batch as for qlora train (the base is quantized as in training: default nf4)\n"
    QLS_TRAIN_OPTIONS_HELP;

int run_eval(const std::vector<std::string>& raw) {
    std::vector<std::string> flags = train_flags(), options = train_options();
    flags.push_back("json");
    options.push_back("adapter");
    const Args args(raw, flags, options);
    args.expect_positional(1);
    TrainConfig c;
    apply_train_options(args, c);
    if (c.data.path.empty()) throw UsageError("--data is required");
    c.data.valid_fraction = 0;
    c.data.valid_path.clear();
    const Model model = load_model(args.positional()[0]);
    const Tokenizer tokenizer = load_model_tokenizer(model);
    const PreparedDataset data = prepare_dataset(c.data, tokenizer);
    for (const DataIssue& issue : data.issues) std::fprintf(stderr, "skipped: %s\n", issue.to_string().c_str());
    CpuBackend backend;
    DeviceBaseModel base(backend, model, c.base);
    std::unique_ptr<LoraParameters> lora;
    if (auto dir = args.option("adapter"))
        lora = LoraParameters::from_adapter(backend, model.config, read_peft_adapter(*dir));
    SamplerOptions sampling;
    sampling.batch_size = static_cast<std::size_t>(c.micro_batch);
    sampling.max_seq_len = c.data.max_seq_len;
    sampling.pad_id = padding_id(tokenizer);
    const std::vector<Batch> batches = make_eval_batches(data.train, sampling);
    LlamaModel llama(backend, base, lora.get(),
                     {c.micro_batch, static_cast<std::int64_t>(c.data.max_seq_len), true, 0});
    LossSum sum;
    for (const Batch& b : batches) {
        const LossSum l = llama.evaluate(b);
        sum.loss += l.loss;
        sum.tokens += l.tokens;
    }
    const double loss = sum.mean();
    if (args.flag("json")) {
        std::cout << nlohmann::json{{"loss", loss}, {"perplexity", std::exp(loss)}, {"tokens", sum.tokens},
                                    {"examples", data.train.size()}, {"skipped", data.issues.size()}}
                         .dump(2)
                  << '\n';
    } else {
        std::printf("%s%s on %s: loss %.4f, perplexity %.2f over %lld trained tokens in %zu examples\n",
                    model.name.c_str(), lora ? " + adapter" : "", c.data.path.filename().c_str(), loss, std::exp(loss),
                    (long long)sum.tokens, data.train.size());
    }
    return 0;
}

}  // namespace qls::cli
