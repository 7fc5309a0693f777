// qlora generate MODEL [--adapter DIR] --prompt TEXT [--chat] [sampling options]
#include <cstdio>
#include <iostream>
#include <sstream>

#include "app/cli_commands.h"
#include "app/cli_device.h"
#include "core/export/peft_adapter.h"
#include "core/model/llama_generator.h"
#include "core/model/llama_generator_generate.h"
#include "core/model/llama_generator_prompt.h"
#include "core/model/model_loader.h"
#include "core/tokenizer/tokenizer.h"

namespace qls::cli {

const char* const kGenerateUsage =
    "usage: qlora generate MODEL [--adapter DIR] --prompt TEXT [--chat] [options]\n"
    "  MODEL             a Hugging Face folder, bitsandbytes 4-bit folder or .gguf file\n"
    "  --adapter DIR     a PEFT LoRA folder (a run's adapter/ or checkpoints/step-N/adapter)\n"
    "  --prompt TEXT     the prompt ('-' reads it from stdin)\n"
    "  --chat            render the prompt as one user message through the model's chat template\n"
    "  --max-tokens N    default 128\n"
    "  --temperature T   default 0 (greedy)\n"
    "  --top-k K --top-p P --repetition-penalty R --seed S\n"
    "  --quant nf4|fp4|none  the base as in training (default nf4)\n"
    "  --device auto|cpu|cuda[:N]  where to run (default auto)\n"
    "  --compute-dtype auto|fp32|bf16|fp16  activations and the KV cache (default auto: the\n"
    "                    device's preferred dtype, fp32 on the CPU)\n"
    "  The reply streams to stdout; statistics go to stderr.\n";

int run_generate(const std::vector<std::string>& raw) {
    const Args args(raw, {"chat"},
                    {"adapter", "prompt", "max-tokens", "temperature", "top-k", "top-p", "repetition-penalty", "seed",
                     "quant", "device", "compute-dtype"});
    args.expect_positional(1);
    auto prompt_text = args.option("prompt");
    if (!prompt_text) throw UsageError("--prompt is required");
    if (*prompt_text == "-") {
        std::ostringstream all;
        all << std::cin.rdbuf();
        prompt_text = all.str();
    }
    SamplingOptions s;
    s.temperature = 0.0f;
    s.max_new_tokens = 128;
    if (auto v = args.option("max-tokens")) s.max_new_tokens = parse_number<std::int64_t>("max-tokens", *v);
    if (auto v = args.option("temperature")) s.temperature = parse_number<float>("temperature", *v);
    if (auto v = args.option("top-k")) s.top_k = parse_number<std::int64_t>("top-k", *v);
    if (auto v = args.option("top-p")) s.top_p = parse_number<float>("top-p", *v);
    if (auto v = args.option("repetition-penalty")) s.repetition_penalty = parse_number<float>("repetition-penalty", *v);
    if (auto v = args.option("seed")) s.seed = parse_number<std::uint64_t>("seed", *v);
    s.validate();
    BaseWeightsOptions base_options;
    if (auto q = args.option("quant"); q && !parse_base_quant(*q, base_options.quant))
        throw UsageError("--quant: expected nf4, fp4 or none, got '" + *q + "'");

    const Model model = load_model(args.positional()[0]);
    const Tokenizer tokenizer = load_model_tokenizer(model);
    const BackendChoice device = choose_backend(args.option("device").value_or("auto"));
    Backend& backend = *device.backend;
    base_options.compute = resolve_compute_dtype(args.option("compute-dtype").value_or("auto"), backend);
    DeviceBaseModel base(backend, model, base_options);
    std::unique_ptr<LoraParameters> lora;
    if (auto dir = args.option("adapter"))
        lora = LoraParameters::from_adapter(backend, model.config, read_peft_adapter(*dir));
    const GenerationPrompt prompt =
        make_prompt(tokenizer, model.config, *prompt_text, args.flag("chat") ? PromptMode::Chat : PromptMode::Plain);
    const std::int64_t context = static_cast<std::int64_t>(prompt.ids.size()) + s.max_new_tokens;
    LlamaGenerator generator(backend, base, lora.get(), context);
    const GenerationResult r = generate(generator, tokenizer, prompt.ids, s, prompt.stop_ids,
                                        [](int, std::string_view piece) {
                                            std::fwrite(piece.data(), 1, piece.size(), stdout);
                                            std::fflush(stdout);
                                            return true;
                                        });
    std::printf("\n");
    std::fflush(stdout);
    std::fprintf(stderr, "[%s prompt, %lld prompt tokens, %zu generated, stop: %s, %.1f tokens/s]\n",
                 prompt.format.c_str(), (long long)r.prompt_tokens, r.ids.size(),
                 std::string(stop_reason_name(r.stop)).c_str(), r.tokens_per_second());
    return 0;
}

}  // namespace qls::cli
