// qlora eval MODEL [--adapter DIR] (--data FILE | --text FILE [--ctx N]) [--json]: loss and
// perplexity over the trained tokens of a dataset, read with the same rules as training, or over
// a raw text the way llama.cpp's llama-perplexity measures it.
#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli_commands.h"
#include "app/cli_device.h"
#include "app/cli_train_options.h"
#include "core/data/batch_sampler.h"
#include "core/data/perplexity_chunks.h"
#include "core/export/peft_adapter.h"
#include "core/model/llama_model.h"
#include "core/model/model_loader.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/tokenizer_config.h"

namespace qls::cli {

const char* const kEvalUsage =
    "usage: qlora eval MODEL (--data FILE | --text FILE [--ctx N]) [--adapter DIR] [--json] [options]\n"
    "  --data FILE      mean loss and perplexity over the trained (response) tokens of a dataset\n"
    "  --text FILE      perplexity of raw UTF-8 text as llama.cpp's llama-perplexity measures it:\n"
    "                   chunks of --ctx tokens (default 512), each starting with BOS when the\n"
    "                   tokenizer adds one, the second half of each scored; compare with\n"
    "                   llama-perplexity -f FILE -c N\n"
    "  --adapter DIR    a PEFT LoRA folder (ours or peft's) applied to the base\n"
    "  --json           print the result as JSON\n"
    "  --quant nf4|fp4|none, --max-seq-len, --template, --form, --field, --train-on-inputs,\n"
    "  --micro-batch as for qlora train (the base is quantized as in training: default nf4)\n"
    QLS_TRAIN_OPTIONS_HELP;

namespace {

LossSum evaluate_all(LlamaModel& llama, const std::vector<Batch>& batches) {
    LossSum sum;
    for (const Batch& b : batches) {
        const LossSum l = llama.evaluate(b);
        sum.loss += l.loss;
        sum.tokens += l.tokens;
    }
    return sum;
}

}  // namespace

int run_eval(const std::vector<std::string>& raw) {
    std::vector<std::string> flags = train_flags(), options = train_options();
    flags.push_back("json");
    options.insert(options.end(), {"adapter", "text", "ctx"});
    const Args args(raw, flags, options);
    args.expect_positional(1);
    TrainConfig c;
    apply_train_options(args, c);
    const auto text_path = args.option("text");
    if (c.data.path.empty() == !text_path) throw UsageError("give exactly one of --data and --text");
    c.data.valid_fraction = 0;
    c.data.valid_path.clear();
    const Model model = load_model(args.positional()[0]);
    const Tokenizer tokenizer = load_model_tokenizer(model);
    const BackendChoice device = choose_backend(c.device);
    Backend& backend = *device.backend;
    c.base.compute = resolve_compute_dtype(c.compute_dtype, backend);
    DeviceBaseModel base(backend, model, c.base);
    std::unique_ptr<LoraParameters> lora;
    if (auto dir = args.option("adapter"))
        lora = LoraParameters::from_adapter(backend, model.config, read_peft_adapter(*dir));

    std::vector<Batch> batches;
    std::int64_t seq_len = 0;
    std::size_t units = 0, skipped = 0;
    std::filesystem::path source;
    if (text_path) {
        source = *text_path;
        seq_len = parse_number<std::int64_t>("ctx", args.option("ctx").value_or("512"));
        const std::vector<int> tokens = tokenizer.encode(read_text_file(source), true);
        batches = with_context(source.string(), [&] {
            return perplexity_chunks(tokens, seq_len, perplexity_bos(tokenizer), c.micro_batch);
        });
        for (const Batch& b : batches) units += static_cast<std::size_t>(b.batch);
    } else {
        source = c.data.path;
        const PreparedDataset data = prepare_dataset(c.data, tokenizer);
        for (const DataIssue& issue : data.issues) std::fprintf(stderr, "skipped: %s\n", issue.to_string().c_str());
        SamplerOptions sampling;
        sampling.batch_size = static_cast<std::size_t>(c.micro_batch);
        sampling.max_seq_len = c.data.max_seq_len;
        sampling.pad_id = padding_id(tokenizer);
        batches = make_eval_batches(data.train, sampling);
        seq_len = static_cast<std::int64_t>(c.data.max_seq_len);
        units = data.train.size();
        skipped = data.issues.size();
    }
    LlamaModel llama(backend, base, lora.get(), {c.micro_batch, seq_len, true, 0, c.base.compute});
    const LossSum sum = evaluate_all(llama, batches);
    const double loss = sum.mean();
    QLS_CHECK(FormatError, std::isfinite(loss), "the loss on ", source.filename().string(), " is ", loss, " over ",
              sum.tokens, " tokens: the model", lora ? " or the adapter" : "", " produces non-finite logits");
    if (args.flag("json")) {
        nlohmann::json j{{"loss", loss}, {"perplexity", std::exp(loss)}, {"tokens", sum.tokens}};
        if (text_path) j.update({{"chunks", units}, {"ctx", seq_len}});
        else j.update({{"examples", units}, {"skipped", skipped}});
        std::cout << j.dump(2) << '\n';
    } else if (text_path) {
        std::printf("%s%s on %s: perplexity %.4f (mean NLL %.6f) over %lld scored tokens in %zu chunks of %lld\n",
                    model.name.c_str(), lora ? " + adapter" : "", source.filename().c_str(), std::exp(loss), loss,
                    (long long)sum.tokens, units, (long long)seq_len);
    } else {
        std::printf("%s%s on %s: loss %.4f, perplexity %.2f over %lld trained tokens in %zu examples\n",
                    model.name.c_str(), lora ? " + adapter" : "", source.filename().c_str(), loss, std::exp(loss),
                    (long long)sum.tokens, units);
    }
    return 0;
}

}  // namespace qls::cli
