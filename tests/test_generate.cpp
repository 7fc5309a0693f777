// Generation with a KV cache on the CPU backend: the cached logits against transformers'
// (../shared/fixtures/ref/models) and against the training model's full recompute, with and
// without LoRA; the sampler's HF semantics; the generation loop's stops; chat prompts against
// transformers' apply_chat_template ids; a chat reply from the demo model.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <map>

#include "core/backend/cpu/cpu_backend.h"
#include "core/model/llama_generator_generate.h"
#include "core/model/llama_generator_prompt.h"
#include "core/model/llama_model.h"
#include "core/model/model_loader.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/utf8.h"
#include "model_test_support.h"
#include "test_support.h"

using namespace qls;
using qls::test::Loaded;
using qls::test::ref_dir;

namespace {

// Random-looking nonzero B (PEFT starts at B = 0, which would hide the LoRA path) and dropout,
// which inference must not apply.
std::unique_ptr<LoraParameters> nonzero_lora(Backend& backend, const LlamaConfig& config) {
    LoraConfig cfg;
    cfg.rank = 4;
    cfg.alpha = 8;
    cfg.dropout = 0.1;
    auto lora = std::make_unique<LoraParameters>(backend, config, cfg);
    for (const auto& p : lora->params())
        if (p.name.ends_with("lora_B")) {
            std::vector<float> v(static_cast<std::size_t>(p.value.numel()));
            for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.05f * std::sin(0.7f * float(i) + 1.0f);
            backend.copy_from_host(p.value, std::as_bytes(std::span(v)));
        }
    return lora;
}

// The first row of expected.safetensors' input_ids.
std::vector<int> first_row(const TensorView& ids) {
    const auto all = ids.as<std::int64_t>();
    return std::vector<int>(all.begin(), all.begin() + ids.shape.at(1));
}

Batch single_batch(const std::vector<int>& ids) {
    Batch b;
    b.batch = 1;
    b.seq_len = static_cast<std::int64_t>(ids.size());
    for (std::size_t t = 0; t < ids.size(); ++t) {
        b.tokens.push_back(ids[t]);
        b.targets.push_back(kIgnoreIndex);
        b.positions.push_back(static_cast<std::int32_t>(t));
        b.segments.push_back(0);
    }
    return b;
}

std::span<const float> row(std::span<const float> all, std::int64_t r, std::int64_t vocab) {
    return all.subspan(static_cast<std::size_t>(r * vocab), static_cast<std::size_t>(vocab));
}

SamplingOptions greedy(std::int64_t max_new) {
    SamplingOptions o;
    o.temperature = 0;
    o.max_new_tokens = max_new;
    return o;
}

}  // namespace

class TestGenerate : public QObject {
    Q_OBJECT
private slots:
    void cachedLogitsMatchFullRecompute_data();
    void cachedLogitsMatchFullRecompute();
    void prefillChunksAgree();
    void greedyPicksArgmax();
    void seededSamplingIsReproducible();
    void narrowSamplingEqualsGreedy();
    void samplerFollowsHfSemantics();
    void samplerDrawsFromSoftmax();
    void optionsAreValidated();
    void stopsAtEosAndOnCancel();
    void contextOverflowIsAnError();
    void chatPromptMatchesTransformers_data();
    void chatPromptMatchesTransformers();
    void demoModelChats();
};

void TestGenerate::cachedLogitsMatchFullRecompute_data() {
    QTest::addColumn<QString>("folder");
    QTest::addColumn<bool>("lora");
    QTest::addColumn<bool>("nf4");
    for (const char* f : {"llama3-tiny", "llama3-tiny-bf16-sharded", "mistral-tiny", "qwen2-tiny"}) {
        QTest::newRow(f) << f << false << false;
        QTest::newRow((std::string(f) + "+lora").c_str()) << f << true << false;
    }
    QTest::newRow("llama3-tiny nf4+lora") << "llama3-tiny" << true << true;
}

// Prefill 30 tokens, then 10 steps: the logits after each call equal the training model's
// logits at that position (full recompute), and without LoRA those of transformers.
void TestGenerate::cachedLogitsMatchFullRecompute() {
    QFETCH(QString, folder);
    QFETCH(bool, lora);
    QFETCH(bool, nf4);
    const auto dir = ref_dir() / "models" / folder.toStdString();
    Loaded m(dir, nf4 ? BaseWeightsOptions{QuantType::NF4, true, 64} : BaseWeightsOptions{std::nullopt});
    std::unique_ptr<LoraParameters> params = lora ? nonzero_lora(m.backend, m.model.config) : nullptr;
    SafetensorsFile expected(dir / "expected.safetensors");
    const std::vector<int> ids = first_row(expected.tensor("input_ids"));
    const std::int64_t vocab = m.model.config.vocab_size, prompt = 30;

    LlamaModel full(m.backend, *m.base, params.get(), {1, std::int64_t(ids.size()), true, 0});
    const std::vector<float> want = full.logits(single_batch(ids));
    const auto hf = expected.tensor("logits").as<float>();

    LlamaGenerator gen(m.backend, *m.base, params.get(), 64);
    double worst = 0, worst_hf = 0;
    for (std::int64_t pos = prompt - 1; pos < std::int64_t(ids.size()); ++pos) {
        const std::vector<float> got =
            pos == prompt - 1 ? gen.prefill(std::span(ids).first(prompt)) : gen.step(ids[std::size_t(pos)]);
        QCOMPARE(gen.position(), pos + 1);
        worst = std::max(worst, test::relative_error(got, row(want, pos, vocab)));
        if (!lora && !nf4) worst_hf = std::max(worst_hf, test::relative_error(got, row(hf, pos, vocab)));
    }
    qInfo() << folder << "worst relative error vs full recompute" << worst << "vs transformers" << worst_hf;
    QVERIFY2(worst < 1e-5, qPrintable(QString::number(worst)));
    QVERIFY2(worst_hf < 1e-4, qPrintable(QString::number(worst_hf)));
}

// One call, token by token, and in chunks of 7 leave the same cache behind.
void TestGenerate::prefillChunksAgree() {
    Loaded m(ref_dir() / "models" / "qwen2-tiny");
    auto lora = nonzero_lora(m.backend, m.model.config);
    SafetensorsFile expected(ref_dir() / "models" / "qwen2-tiny" / "expected.safetensors");
    const std::vector<int> ids = first_row(expected.tensor("input_ids"));
    const std::span<const int> prompt = std::span(ids).first(33);
    const int next = ids[33];

    LlamaGenerator whole(m.backend, *m.base, lora.get(), 40);
    whole.prefill(prompt);
    const std::vector<float> a = whole.step(next);

    LlamaGenerator single(m.backend, *m.base, lora.get(), 40);
    single.prefill(prompt.first(1));
    for (std::size_t i = 1; i < prompt.size(); ++i) single.step(prompt[i]);
    const std::vector<float> b = single.step(next);

    LlamaGenerator chunked(m.backend, *m.base, lora.get(), 40, 7);
    chunked.prefill(prompt);
    const std::vector<float> c = chunked.step(next);

    QVERIFY2(test::relative_error(b, a) < 1e-5, qPrintable(QString::number(test::relative_error(b, a))));
    QVERIFY2(test::relative_error(c, a) < 1e-5, qPrintable(QString::number(test::relative_error(c, a))));
    // prefill starts over: the same prompt gives the same logits again.
    const std::vector<float> again = whole.prefill(prompt);
    QCOMPARE(whole.position(), std::int64_t(prompt.size()));
    QVERIFY(test::relative_error(again, chunked.prefill(prompt)) < 1e-5);
}

// Each greedy token is the argmax of the full recompute's logits at its position.
void TestGenerate::greedyPicksArgmax() {
    Loaded m(ref_dir() / "models" / "llama3-tiny");
    const Tokenizer tok = load_model_tokenizer(m.model);
    SafetensorsFile expected(ref_dir() / "models" / "llama3-tiny" / "expected.safetensors");
    const std::vector<int> prompt = first_row(expected.tensor("input_ids"));
    LlamaGenerator gen(m.backend, *m.base, nullptr, 64);
    const GenerationResult r = generate(gen, tok, prompt, greedy(12), {});
    QCOMPARE(r.ids.size(), std::size_t(12));
    QCOMPARE(r.stop, StopReason::MaxTokens);
    QCOMPARE(r.prompt_tokens, std::int64_t(prompt.size()));

    std::vector<int> all = prompt;
    all.insert(all.end(), r.ids.begin(), r.ids.end() - 1);
    LlamaModel full(m.backend, *m.base, nullptr, {1, std::int64_t(all.size()), true, 0});
    const std::vector<float> logits = full.logits(single_batch(all));
    const std::int64_t vocab = m.model.config.vocab_size;
    for (std::size_t i = 0; i < r.ids.size(); ++i) {
        const auto scores = row(logits, std::int64_t(prompt.size() + i) - 1, vocab);
        const auto best = std::max_element(scores.begin(), scores.end()) - scores.begin();
        QCOMPARE(r.ids[i], int(best));
    }
}

void TestGenerate::seededSamplingIsReproducible() {
    Loaded m(ref_dir() / "models" / "llama3-tiny");
    const Tokenizer tok = load_model_tokenizer(m.model);
    const std::vector<int> prompt = tok.encode("Hello there", true);
    LlamaGenerator gen(m.backend, *m.base, nullptr, 64);
    SamplingOptions o;
    o.temperature = 1.0f;
    o.top_k = 50;
    o.top_p = 0.95f;
    o.max_new_tokens = 20;
    o.seed = 1234;
    const GenerationResult a = generate(gen, tok, prompt, o, {});
    const GenerationResult b = generate(gen, tok, prompt, o, {});
    o.seed = 1235;
    const GenerationResult c = generate(gen, tok, prompt, o, {});
    QCOMPARE(a.ids, b.ids);
    QCOMPARE(a.text, b.text);
    QVERIFY(a.ids != c.ids);
}

// top_k = 1 or a tiny top_p leave only the most likely token, whatever the seed.
void TestGenerate::narrowSamplingEqualsGreedy() {
    Loaded m(ref_dir() / "models" / "qwen2-tiny");
    const Tokenizer tok = load_model_tokenizer(m.model);
    const std::vector<int> prompt = tok.encode("What is NF4?", true);
    LlamaGenerator gen(m.backend, *m.base, nullptr, 64);
    const std::vector<int> want = generate(gen, tok, prompt, greedy(16), {}).ids;
    for (std::uint64_t seed : {1, 2}) {
        SamplingOptions k1 = greedy(16);
        k1.temperature = 1.5f;
        k1.top_k = 1;
        k1.seed = seed;
        QCOMPARE(generate(gen, tok, prompt, k1, {}).ids, want);
        SamplingOptions p0 = greedy(16);
        p0.temperature = 1.5f;
        p0.top_p = 1e-6f;
        p0.seed = seed;
        QCOMPARE(generate(gen, tok, prompt, p0, {}).ids, want);
    }
}

// Hand-worked cases of transformers' processors (generation/logits_process.py).
void TestGenerate::samplerFollowsHfSemantics() {
    const float inf = std::numeric_limits<float>::infinity();
    // Repetition penalty: each seen token once; negative scores multiplied, positive divided.
    std::vector<float> s{2.0f, -2.0f, 1.0f, 4.0f};
    const std::vector<int> history{0, 1, 1, 7};
    apply_repetition_penalty(s, history, 2.0f);
    QCOMPARE(s, (std::vector<float>{1.0f, -4.0f, 1.0f, 4.0f}));
    // Top-k keeps ties with the k-th score.
    s = {3.0f, 1.0f, 2.0f, 2.0f, 0.0f};
    apply_top_k(s, 2);
    QCOMPARE(s, (std::vector<float>{3.0f, -inf, 2.0f, 2.0f, -inf}));
    // Top-p: ascending probabilities .05 .15 .3 .5 have cumulative .05 .2 .5 1; with p = .75
    // those with cumulative <= .25 go.
    s = {std::log(0.3f), std::log(0.05f), std::log(0.5f), std::log(0.15f)};
    const std::vector<float> kept{s[0], -inf, s[2], -inf};
    apply_top_p(s, 0.75f);
    QCOMPARE(s, kept);
    // The most likely token survives however small p is.
    s = {0.0f, 5.0f, 1.0f};
    apply_top_p(s, 1e-9f);
    QCOMPARE(s, (std::vector<float>{-inf, 5.0f, -inf}));
    QCOMPARE(argmax(std::vector<float>{1.0f, 3.0f, 3.0f}), 1);
    // Greedy still applies the penalty: token 0 loses its lead.
    Sampler g(SamplingOptions{8, 0.0f, 0, 1.0f, 3.0f, 0});
    QCOMPARE(g.sample(std::vector<float>{3.0f, 2.0f}, std::vector<int>{0}), 1);
    // NaN logits (weights that diverged) are an error, not an arbitrary token.
    const std::vector<float> nan_logits{1.0f, NAN};
    QLS_VERIFY_THROWS_WITH(g.sample(nan_logits, {}), FormatError, "NaN/Inf logits");
}

// Frequencies of 20000 draws after temperature and top-k follow the renormalized softmax.
void TestGenerate::samplerDrawsFromSoftmax() {
    const std::vector<float> logits{1.0f, 0.0f, 2.0f, -1.0f};
    Sampler s(SamplingOptions{8, 2.0f, 3, 1.0f, 1.0f, 7});
    std::map<int, int> count;
    const int draws = 20000;
    for (int i = 0; i < draws; ++i) ++count[s.sample(logits, {})];
    // top-3 of logits / 2: exp(.5), exp(0), exp(1) renormalized.
    const double z = std::exp(0.5) + 1.0 + std::exp(1.0);
    const std::map<int, double> want{{0, std::exp(0.5) / z}, {1, 1.0 / z}, {2, std::exp(1.0) / z}};
    QCOMPARE(count.count(3), std::size_t(0));
    for (const auto& [id, p] : want) {
        const double got = double(count[id]) / draws;
        QVERIFY2(std::fabs(got - p) < 0.015, qPrintable(QString("token %1: %2 vs %3").arg(id).arg(got).arg(p)));
    }
}

void TestGenerate::optionsAreValidated() {
    auto with = [](auto change) {
        SamplingOptions o;
        change(o);
        return o;
    };
    QLS_VERIFY_THROWS_WITH(with([](auto& o) { o.temperature = -0.1f; }).validate(), ConfigError, "temperature");
    QLS_VERIFY_THROWS_WITH(with([](auto& o) { o.top_p = 0.0f; }).validate(), ConfigError, "top_p");
    QLS_VERIFY_THROWS_WITH(with([](auto& o) { o.top_p = 1.5f; }).validate(), ConfigError, "top_p");
    QLS_VERIFY_THROWS_WITH(with([](auto& o) { o.top_k = -1; }).validate(), ConfigError, "top_k");
    QLS_VERIFY_THROWS_WITH(with([](auto& o) { o.max_new_tokens = 0; }).validate(), ConfigError, "max_new_tokens");
    QLS_VERIFY_THROWS_WITH(with([](auto& o) { o.repetition_penalty = 0.0f; }).validate(), ConfigError,
                           "repetition_penalty");
    QLS_VERIFY_THROWS_WITH((void)Sampler(with([](auto& o) { o.top_k = -3; })), ConfigError, "got -3");
    with([](auto& o) { o.temperature = 0; o.top_p = 1.0f; o.max_new_tokens = 1; }).validate();
}

void TestGenerate::stopsAtEosAndOnCancel() {
    Loaded m(ref_dir() / "models" / "qwen2-tiny");
    const Tokenizer tok = load_model_tokenizer(m.model);
    const std::vector<int> prompt = tok.encode("What is NF4?", true);
    LlamaGenerator gen(m.backend, *m.base, nullptr, 64);
    const std::vector<int> ids = generate(gen, tok, prompt, greedy(16), {}).ids;
    // Stop at the first token that did not occur before it.
    std::size_t at = 1;
    while (at < ids.size() && std::find(ids.begin(), ids.begin() + std::ptrdiff_t(at), ids[at]) != ids.begin() + std::ptrdiff_t(at))
        ++at;
    QVERIFY2(at < ids.size(), "greedy output repeats one token; pick another prompt");
    const int stop[] = {9999, ids[at]};
    const GenerationResult r = generate(gen, tok, prompt, greedy(16), stop);
    QCOMPARE(r.stop, StopReason::Eos);
    QCOMPARE(r.ids, std::vector<int>(ids.begin(), ids.begin() + std::ptrdiff_t(at)));

    int calls = 0;
    std::string streamed;
    const GenerationResult c = generate(gen, tok, prompt, greedy(16), {}, [&](int, std::string_view piece) {
        streamed += piece;
        return ++calls < 3;
    });
    QCOMPARE(c.stop, StopReason::Cancelled);
    QCOMPARE(c.ids, std::vector<int>(ids.begin(), ids.begin() + 3));
    QVERIFY(c.text.starts_with(streamed));
    QCOMPARE(c.text, tok.decode(c.ids));
}

void TestGenerate::contextOverflowIsAnError() {
    Loaded m(ref_dir() / "models" / "mistral-tiny");
    const Tokenizer tok = load_model_tokenizer(m.model);
    LlamaGenerator gen(m.backend, *m.base, nullptr, 16);
    const std::vector<int> prompt(10, 5);
    QLS_VERIFY_THROWS_WITH(generate(gen, tok, prompt, greedy(7), {}), ConfigError,
                           "prompt of 10 tokens + max_new_tokens 7 exceeds the context of 16");
    const GenerationResult fits = generate(gen, tok, prompt, greedy(6), {});
    QCOMPARE(fits.ids.size(), std::size_t(6));
    QVERIFY(gen.position() <= 16);
    gen.prefill(prompt);
    QLS_VERIFY_THROWS_WITH(gen.append(std::vector<int>(7, 5)), ConfigError, "exceed the context of 16");
    QLS_VERIFY_THROWS_WITH(gen.step(int(m.model.config.vocab_size)), DataError, "outside the model's vocabulary");
    QLS_VERIFY_THROWS_WITH((void)LlamaGenerator(m.backend, *m.base, nullptr, 0), ConfigError, "context");
}

void TestGenerate::chatPromptMatchesTransformers_data() {
    QTest::addColumn<QString>("folder");
    QTest::addColumn<QString>("end_of_turn");
    QTest::newRow("llama3-tiny") << "llama3-tiny" << "<|eot_id|>";
    QTest::newRow("mistral-tiny") << "mistral-tiny" << "</s>";
    QTest::newRow("qwen2-tiny") << "qwen2-tiny" << "<|im_end|>";
}

// chat.json: transformers' apply_chat_template(add_generation_prompt=True, tokenize=True).
void TestGenerate::chatPromptMatchesTransformers() {
    QFETCH(QString, folder);
    QFETCH(QString, end_of_turn);
    const auto dir = ref_dir() / "models" / folder.toStdString();
    const Tokenizer tok = load_tokenizer_from(dir);
    const LlamaConfig config = load_llama_config(dir / "config.json");
    const auto ref = nlohmann::json::parse(test::read_bytes(dir / "chat.json"));
    std::vector<Message> messages;
    for (const auto& m : ref["messages"]) {
        const std::string role = m["role"];
        messages.push_back({role == "system" ? Role::System : role == "user" ? Role::User : Role::Assistant,
                            m["content"]});
    }
    const GenerationPrompt p = make_chat_prompt(tok, config, messages);
    QCOMPARE(p.format, std::string("model template"));
    QCOMPARE(p.text, ref["rendered_gen1"].get<std::string>());
    QCOMPARE(p.ids, ref["ids_gen1"].get<std::vector<int>>());
    const int eot = *tok.token_to_id(end_of_turn.toStdString());
    QVERIFY(std::find(p.stop_ids.begin(), p.stop_ids.end(), eot) != p.stop_ids.end());
    for (std::int64_t id : config.eos_token_ids)
        QVERIFY(std::find(p.stop_ids.begin(), p.stop_ids.end(), int(id)) != p.stop_ids.end());

    const GenerationPrompt plain = make_prompt(tok, config, "And FP4?", PromptMode::Plain);
    QCOMPARE(plain.ids, tok.encode("And FP4?", true));
}

// The demo model (ChatML, eos <|im_end|> = 2) answers a question in valid UTF-8, streamed piece
// by piece, and stops at <|im_end|> or the token budget.
void TestGenerate::demoModelChats() {
    Loaded m(test::source_dir() / "resources" / "demo" / "model");
    const Tokenizer tok = load_model_tokenizer(m.model);
    const GenerationPrompt p = make_prompt(tok, m.model.config, "What is the capital of France?", PromptMode::Chat);
    QCOMPARE(p.format, std::string("model template"));
    QVERIFY(p.text.ends_with("<|im_start|>assistant\n"));
    QCOMPARE(p.ids.front(), 0);  // <|endoftext|> as BOS, written by the template
    QVERIFY(std::find(p.stop_ids.begin(), p.stop_ids.end(), 2) != p.stop_ids.end());

    LlamaGenerator gen(m.backend, *m.base, nullptr, 256);
    SamplingOptions o;
    o.temperature = 0.7f;
    o.top_p = 0.9f;
    o.max_new_tokens = 64;
    o.seed = 3;
    std::string streamed;
    const GenerationResult r = generate(gen, tok, p.ids, o, p.stop_ids, [&](int, std::string_view piece) {
        streamed += piece;
        return true;
    });
    qInfo() << "demo reply" << stop_reason_name(r.stop).data() << r.ids.size() << "tokens,"
            << r.tokens_per_second() << "tokens/s:" << r.text.c_str();
    QVERIFY(r.stop == StopReason::Eos || r.stop == StopReason::MaxTokens);
    QVERIFY(!r.ids.empty());
    if (r.stop == StopReason::MaxTokens) QCOMPARE(r.ids.size(), std::size_t(64));
    for (int id : r.ids) QVERIFY(std::find(p.stop_ids.begin(), p.stop_ids.end(), id) == p.stop_ids.end());
    QCOMPARE(utf8::find_invalid(r.text), std::string::npos);
    QVERIFY(r.text.starts_with(streamed));
    QCOMPARE(r.text, tok.decode(r.ids));
}

QTEST_GUILESS_MAIN(TestGenerate)
#include "test_generate.moc"
