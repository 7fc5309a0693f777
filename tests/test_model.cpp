// The Llama model on the CPU backend against transformers and peft (../shared/fixtures/ref):
// logits and loss of every model folder, and on ref/lora the loss, logits, every LoRA
// gradient and the grad norm (the step after it: test_optimizer); and an adapter we
// trained and exported, run by peft (tests/fixtures/export/check_peft_export.py).
#include <QtTest>

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/backend/cpu/cpu_backend.h"
#include "core/data/perplexity_chunks.h"
#include "core/export/peft_adapter.h"
#include "core/model/llama_model.h"
#include "core/model/model_loader.h"
#include "core/model/random_model.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/tokenizer_config.h"
#include "core/util/half.h"
#include "delegating_backend.h"
#include "model_test_support.h"
#include "test_support.h"

using namespace qls;
using qls::test::download;
using qls::test::Loaded;
using qls::test::peft_key;
using qls::test::ref_dir;

namespace {

void upload_named(Backend& backend, const LoraParameters& lora, const SafetensorsFile& ref,
                  const std::string& prefix) {
    for (const auto& p : lora.params()) {
        const TensorView& t = ref.tensor(peft_key(prefix, p.name));
        QCOMPARE(t.shape, p.value.shape);
        backend.copy_from_host(p.value, t.data);
    }
}

}  // namespace

class TestModel : public QObject {
    Q_OBJECT
private slots:
    void hfLogits_data();
    void hfLogits();
    void bnbLogits_data();
    void bnbLogits();
    void loraParity_data();
    void loraParity();
    void ourExportUnderPeft();
    void llamaCppPerplexity();
    void zeroLoraEqualsBase();
    void checkpointingGivesSameGradients();
    void packedSegmentsAreIndependent();
    void badBatchIsRefusedOnTheHost();
    void oneDequantizationPerLayer_data();
    void oneDequantizationPerLayer();
    void denseBaseInComputeDtypeIsUsedInPlace();
    void randomModelForBenchmarks();
};

void TestModel::hfLogits_data() {
    QTest::addColumn<QString>("folder");
    QTest::addColumn<double>("tolerance");
    QTest::newRow("llama3-tiny") << "llama3-tiny" << 1e-4;
    QTest::newRow("llama3-tiny-bf16-sharded") << "llama3-tiny-bf16-sharded" << 1e-4;
    QTest::newRow("mistral-tiny") << "mistral-tiny" << 1e-4;
    QTest::newRow("qwen2-tiny") << "qwen2-tiny" << 1e-4;
}

void TestModel::hfLogits() {
    QFETCH(QString, folder);
    QFETCH(double, tolerance);
    const auto dir = ref_dir() / "models" / folder.toStdString();
    Loaded m(dir);
    SafetensorsFile expected(dir / "expected.safetensors");
    const Batch batch = test::batch_from_ids(expected.tensor("input_ids"));
    LlamaModel model(m.backend, *m.base, nullptr, {batch.batch, batch.seq_len, true, 0});
    const std::vector<float> logits = model.logits(batch);
    const double err = test::relative_error(logits, expected.tensor("logits").as<float>());
    qInfo() << folder << "logits relative error" << err;
    QVERIFY2(err < tolerance, qPrintable(QString::number(err)));
    const double loss = model.evaluate(batch).mean();
    const float ref_loss = expected.tensor("loss").as<float>()[0];
    QVERIFY2(std::fabs(loss - ref_loss) < 1e-4 * std::fabs(ref_loss),
             qPrintable(QString("%1 vs %2").arg(loss).arg(ref_loss)));
}

void TestModel::bnbLogits_data() {
    QTest::addColumn<QString>("folder");
    QTest::newRow("nf4-dq") << "llama3-tiny-nf4-dq";
    QTest::newRow("fp4") << "llama3-tiny-fp4";
}

// bitsandbytes ran these in bf16 on CUDA; we run the same 4-bit weights in fp32, so the
// tolerance is bf16's (8 mantissa bits) accumulated over three layers.
void TestModel::bnbLogits() {
    QFETCH(QString, folder);
    const auto dir = ref_dir() / "bnb" / folder.toStdString();
    Loaded m(dir);
    QVERIFY(m.base->layers()[0].q.quantized());
    SafetensorsFile expected(dir / "expected.safetensors");
    const Batch batch = test::batch_from_ids(expected.tensor("input_ids"));
    LlamaModel model(m.backend, *m.base, nullptr, {batch.batch, batch.seq_len, true, 0});
    const double err = test::relative_error(model.logits(batch), expected.tensor("logits").as<float>());
    qInfo() << folder << "logits relative error vs bf16 CUDA" << err;
    QVERIFY2(err < 3e-2, qPrintable(QString::number(err)));
    const double loss = model.evaluate(batch).mean();
    const float ref_loss = expected.tensor("loss").as<float>()[0];
    QVERIFY2(std::fabs(loss - ref_loss) < 1e-2 * std::fabs(ref_loss),
             qPrintable(QString("%1 vs %2").arg(loss).arg(ref_loss)));
}

void TestModel::loraParity_data() {
    QTest::addColumn<QString>("folder");
    QTest::addColumn<QString>("base");
    QTest::addColumn<bool>("rslora");
    QTest::newRow("llama3-tiny") << "llama3-tiny" << "llama3-tiny" << false;
    QTest::newRow("qwen2-tiny-rslora") << "qwen2-tiny-rslora" << "qwen2-tiny" << true;
}

void TestModel::loraParity() {
    QFETCH(QString, folder);
    QFETCH(QString, base);
    QFETCH(bool, rslora);
    Loaded m(ref_dir() / "models" / base.toStdString());
    SafetensorsFile ref(ref_dir() / "lora" / folder.toStdString() / "reference.safetensors");
    LoraConfig cfg;
    cfg.rank = 4;
    cfg.alpha = 8;
    cfg.dropout = 0;
    cfg.rslora = rslora;
    LoraParameters lora(m.backend, m.model.config, cfg);
    upload_named(m.backend, lora, ref, "before");
    const TensorView& labels = ref.tensor("labels");
    const Batch batch = test::batch_from_ids(ref.tensor("input_ids"), &labels);
    LlamaModel model(m.backend, *m.base, &lora, {batch.batch, batch.seq_len, true, 0});

    const double logit_err = test::relative_error(model.logits(batch), ref.tensor("logits").as<float>());
    QVERIFY2(logit_err < 1e-4, qPrintable(QString::number(logit_err)));
    const std::int64_t tokens = batch.trained_tokens();
    model.forward_backward(batch, 1.0f / static_cast<float>(tokens), 0);
    const LossSum sum = model.read_loss();
    QCOMPARE(sum.tokens, tokens);
    const float ref_loss = ref.tensor("loss").as<float>()[0];
    QVERIFY2(std::fabs(sum.mean() - ref_loss) < 1e-4 * ref_loss,
             qPrintable(QString("%1 vs %2").arg(sum.mean()).arg(ref_loss)));

    double worst = 0, sum_squares = 0;
    for (const auto& p : lora.params()) {
        const std::vector<float> grad = download(m.backend, p.grad);
        const double err = test::relative_error(grad, ref.tensor(peft_key("grad", p.name)).as<float>());
        worst = std::max(worst, err);
        QVERIFY2(err < 1e-3, qPrintable(QString::fromStdString(p.name) + " grad error " + QString::number(err)));
        for (float g : grad) sum_squares += double(g) * g;
    }
    qInfo() << folder << "worst LoRA gradient relative error" << worst;
    const double norm = std::sqrt(sum_squares);
    const float ref_norm = ref.tensor("grad_norm").as<float>()[0];
    QVERIFY2(std::fabs(norm - ref_norm) < 1e-4 * ref_norm,
             qPrintable(QString("%1 vs %2").arg(norm).arg(ref_norm)));
    // The clipped AdamW step after these gradients: TestOptimizer::loraReferenceStep.
}

// tests/fixtures/export/demo_adapter is our PEFT export of a 60-step demo run;
// demo_peft_logits.safetensors is what peft + transformers computed with it on the GPU machine
// (kernels/bench/gpu_check.sh, step peft), on the dense demo base in fp32.
void TestModel::ourExportUnderPeft() {
    const auto dir = test::fixture_dir() / "export";
    Loaded m(test::source_dir() / "resources" / "demo" / "model");
    const LoraAdapter adapter = read_peft_adapter(dir / "demo_adapter");
    const auto lora = LoraParameters::from_adapter(m.backend, m.model.config, adapter);
    SafetensorsFile peft(dir / "demo_peft_logits.safetensors");
    const Batch batch = test::batch_from_ids(peft.tensor("input_ids"));
    LlamaModel adapted(m.backend, *m.base, lora.get(), {batch.batch, batch.seq_len, true, 0});
    const std::vector<float> logits = adapted.logits(batch);
    const double err = test::relative_error(logits, peft.tensor("logits").as<float>());
    qInfo() << "our demo adapter, ours vs peft: logits relative error" << err;
    QVERIFY2(err < 1e-4, qPrintable(QString::number(err)));
    // The adapter is trained: without it the logits are far from peft's.
    LlamaModel plain(m.backend, *m.base, nullptr, {batch.batch, batch.seq_len, true, 0});
    QVERIFY(test::relative_error(plain.logits(batch), peft.tensor("logits").as<float>()) > 1e-2);
}

// llama.cpp's llama-perplexity on GGUFs we exported from the demo model and adapter
// (tests/fixtures/export/llama_cpp/make_perplexity_fixture.sh) against `qlora eval --text`'s path.
void TestModel::llamaCppPerplexity() {
    const auto dir = test::fixture_dir() / "export";
    const auto ref = nlohmann::json::parse(read_text_file(dir / "llama_cpp" / "perplexity.json"));
    Loaded m(test::source_dir() / "resources" / "demo" / "model");
    const Tokenizer tok = load_model_tokenizer(m.model);
    const std::vector<int> tokens = tok.encode(read_text_file(dir / "llama_cpp" / "pirate_valid.txt"), true);
    const std::int64_t ctx = ref.at("ctx");
    const std::vector<Batch> chunks = perplexity_chunks(tokens, ctx, perplexity_bos(tok), 8);
    const auto lora = LoraParameters::from_adapter(m.backend, m.model.config, read_peft_adapter(dir / "demo_adapter"));
    for (const bool adapted : {true, false}) {
        LlamaModel model(m.backend, *m.base, adapted ? lora.get() : nullptr, {8, ctx, true, 0});
        LossSum sum;
        for (const Batch& b : chunks) {
            const LossSum l = model.evaluate(b);
            sum.loss += l.loss;
            sum.tokens += l.tokens;
        }
        const double ours = std::exp(sum.mean());
        // Adapted: our merged GGUF, and our base GGUF with our GGUF LoRA through --lora.
        for (const char* key : adapted ? std::vector<const char*>{"merged_gguf_f32", "base_gguf_plus_lora_gguf"}
                                       : std::vector<const char*>{"base_gguf"}) {
            const double theirs = ref.at(key).get<double>();
            qInfo() << key << "perplexity: ours" << ours << "llama.cpp" << theirs;
            QVERIFY2(std::fabs(ours - theirs) < 1e-4 * theirs, qPrintable(QString("%1: %2 vs %3").arg(key).arg(ours).arg(theirs)));
        }
    }
}

void TestModel::zeroLoraEqualsBase() {
    Loaded m(ref_dir() / "models" / "qwen2-tiny");
    SafetensorsFile expected(ref_dir() / "models" / "qwen2-tiny" / "expected.safetensors");
    const Batch batch = test::batch_from_ids(expected.tensor("input_ids"));
    LlamaModel plain(m.backend, *m.base, nullptr, {batch.batch, batch.seq_len, true, 0});
    LoraConfig cfg;
    cfg.rank = 8;
    LoraParameters lora(m.backend, m.model.config, cfg);  // PEFT init: B = 0
    LlamaModel adapted(m.backend, *m.base, &lora, {batch.batch, batch.seq_len, true, 0});
    QCOMPARE(adapted.logits(batch), plain.logits(batch));
}

void TestModel::checkpointingGivesSameGradients() {
    Loaded m(ref_dir() / "models" / "llama3-tiny", {QuantType::NF4, true, 64});
    SafetensorsFile expected(ref_dir() / "models" / "llama3-tiny" / "expected.safetensors");
    const Batch batch = test::batch_from_ids(expected.tensor("input_ids"));
    LoraConfig cfg;
    cfg.rank = 4;
    cfg.dropout = 0.1;
    std::vector<std::vector<float>> grads[2];
    for (int ckpt = 0; ckpt < 2; ++ckpt) {
        LoraParameters lora(m.backend, m.model.config, cfg);
        // B = 0 would hide errors in the A gradients' paths: give B values.
        for (const auto& p : lora.params())
            if (p.name.ends_with("lora_B")) {
                std::vector<float> v(static_cast<std::size_t>(p.value.numel()));
                for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.01f * std::sin(float(i));
                m.backend.copy_from_host(p.value, std::as_bytes(std::span(v)));
            }
        LlamaModel model(m.backend, *m.base, &lora, {batch.batch, batch.seq_len, ckpt == 1, 0});
        model.forward_backward(batch, 0.01f, 42);
        for (const auto& p : lora.params()) grads[ckpt].push_back(download(m.backend, p.grad));
    }
    QCOMPARE(grads[0], grads[1]);
}

// Two sequences packed into one row with segments give the same logits as two rows.
void TestModel::packedSegmentsAreIndependent() {
    Loaded m(ref_dir() / "models" / "mistral-tiny");
    SafetensorsFile expected(ref_dir() / "models" / "mistral-tiny" / "expected.safetensors");
    const Batch two = test::batch_from_ids(expected.tensor("input_ids"));
    Batch packed;
    packed.batch = 1;
    packed.seq_len = two.batch * two.seq_len;
    packed.tokens = two.tokens;
    packed.targets = two.targets;
    packed.positions = two.positions;
    for (std::int64_t r = 0; r < two.batch; ++r)
        for (std::int64_t t = 0; t < two.seq_len; ++t) packed.segments.push_back(static_cast<std::int32_t>(r));
    LlamaModel a(m.backend, *m.base, nullptr, {two.batch, two.seq_len, true, 0});
    LlamaModel b(m.backend, *m.base, nullptr, {1, packed.seq_len, true, 0});
    const double err = test::relative_error(b.logits(packed), a.logits(two));
    QVERIFY2(err < 1e-5, qPrintable(QString::number(err)));
}

// Ids, targets, positions and segments are checked before anything reaches the device (no op
// checks data there): each bad value gives a DataError naming it and leaves the model usable.
void TestModel::badBatchIsRefusedOnTheHost() {
    Loaded m(ref_dir() / "models" / "llama3-tiny");
    const std::int64_t vocab = m.model.config.vocab_size;
    Batch good;
    good.batch = 1;
    good.seq_len = 4;
    good.tokens = {1, 2, 3, 4};
    good.targets = {2, 3, 4, kIgnoreIndex};
    good.positions = {0, 1, 2, 3};
    good.segments = {0, 0, 0, 0};
    LlamaModel model(m.backend, *m.base, nullptr, {1, 4, true, 0});
    const double loss = model.evaluate(good).mean();
    auto bad = [&](auto change, const char* needle) {
        Batch b = good;
        change(b);
        QLS_VERIFY_THROWS_WITH(model.evaluate(b), DataError, needle);
    };
    bad([&](Batch& b) { b.tokens[2] = static_cast<std::int32_t>(vocab); }, "token id");
    bad([](Batch& b) { b.tokens[0] = -1; }, "token id -1 at position 0");
    bad([&](Batch& b) { b.targets[1] = static_cast<std::int32_t>(vocab); }, "target token id");
    bad([](Batch& b) { b.targets[1] = -5; }, "target token id -5");
    bad([](Batch& b) { b.positions[3] = 4; }, "position 4 at 3 is outside the planned sequence length 4");
    bad([](Batch& b) { b.positions[0] = -1; }, "position -1");
    bad([](Batch& b) { b.segments[2] = -2; }, "segment -2");
    QCOMPARE(model.evaluate(good).mean(), loss);
}

namespace {
// Counts the base-weight dequantizations (and conversions) the model asks for.
class DequantCounter final : public test::DelegatingBackend {
public:
    std::string name() const override { return "CPU counting dequantizations"; }
    std::int64_t count = 0;

protected:
    void dequantize_weight_impl(const LinearWeight& w, const Tensor& out) override {
        ++count;
        m_cpu.dequantize_weight(w, out);
    }
};
}  // namespace

void TestModel::oneDequantizationPerLayer_data() {
    QTest::addColumn<bool>("checkpointing");
    QTest::newRow("checkpointing") << true;
    QTest::newRow("no checkpointing") << false;
}

// A layer's 7 base weights are dequantized once for its forward and once for its recompute and
// backward together. The layer that ends one pass starts the next without another: the last
// layer's forward weights serve its backward, layer 0's backward weights the next forward.
void TestModel::oneDequantizationPerLayer() {
    QFETCH(bool, checkpointing);
    constexpr std::int64_t kLayers = 3;
    DequantCounter be;
    test::TinyLora tiny(be, kLayers, 3);
    LlamaModel llama(be, tiny.base, &tiny.lora, {1, 8, checkpointing, 0});
    const Batch b = test::pattern_batch(1, 8, 37);
    be.count = 0;
    llama.forward_backward(b, 0.1f, 1);
    QCOMPARE(be.count, 7 * (2 * kLayers - 1));
    be.count = 0;
    llama.forward_backward(b, 0.1f, 2);
    QCOMPARE(be.count, 7 * (2 * kLayers - 2));
}

// A dense base already in the compute dtype is stacked at load and multiplied where it lies: no
// copy per layer and no workspace for it; in another dtype it is converted once per layer, as a
// 4-bit one is dequantized. With the same values the two give the same gradients, bit for bit.
void TestModel::denseBaseInComputeDtypeIsUsedInPlace() {
    const LlamaConfig c = test::tiny_config(true, false, 2);  // Qwen2: stacked biases too
    const Model random = test::tiny_model(c, 5);
    // The same bf16-representable values, stored as F32 and as BF16.
    auto stored_as = [&](DType t) {
        Model m = random;
        for (auto& [name, w] : m.weights.tensors) {
            std::vector<float> v = to_f32(w.view);
            auto bytes = std::make_shared<std::vector<std::byte>>(v.size() * dtype_size(t));
            for (std::size_t i = 0; i < v.size(); ++i) {
                const std::uint16_t h = f32_to_bf16(v[i]);
                const float f = bf16_to_f32(h);
                if (t == DType::F32) std::memcpy(bytes->data() + 4 * i, &f, 4);
                else std::memcpy(bytes->data() + 2 * i, &h, 2);
            }
            w.view = TensorView{t, w.shape, std::span<const std::byte>(*bytes)};
            w.owned = std::move(bytes);
        }
        return m;
    };
    const Model f32 = stored_as(DType::F32), bf16 = stored_as(DType::BF16);
    QVERIFY(layers_in_compute_dtype(f32, {std::nullopt, true, 64, DType::F32}));
    QVERIFY(!layers_in_compute_dtype(bf16, {std::nullopt, true, 64, DType::F32}));
    QVERIFY(layers_in_compute_dtype(bf16, {std::nullopt, true, 64, DType::BF16}));
    QVERIFY(!layers_in_compute_dtype(f32, {QuantType::NF4, true, 64, DType::F32}));
    const Batch b = test::pattern_batch(1, 8, c.vocab_size);
    auto grads = [&](const Model& m, DequantCounter& be, bool in_place) {
        DeviceBaseModel base(be, m, {std::nullopt, true, 64, DType::F32});
        if (base.layers_in_compute_dtype() != in_place) return std::vector<float>{};
        LoraConfig rank2;
        rank2.rank = 2;
        LoraParameters lora(be, c, rank2);
        for (const auto& p : lora.params()) {  // B nonzero, so that every path carries gradient
            std::vector<float> v(static_cast<std::size_t>(p.value.numel()));
            for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.01f * static_cast<float>(i % 7) - 0.02f;
            be.copy_from_host(p.value, std::as_bytes(std::span(v)));
        }
        LlamaModel llama(be, base, &lora, {1, 8, true, 0});
        be.count = 0;
        llama.forward_backward(b, 0.1f, 1);
        std::vector<float> all;
        for (const auto& p : lora.params())
            for (float g : download(be, p.grad)) all.push_back(g);
        return all;
    };
    DequantCounter in_place, converted;
    const std::vector<float> a = grads(f32, in_place, true), d = grads(bf16, converted, false);
    QVERIFY(!a.empty() && !d.empty());
    QCOMPARE(in_place.count, std::int64_t{0});
    // 7 weights and 3 biases per layer, 3 times: layer 1 serves its forward and its backward.
    QCOMPARE(converted.count, std::int64_t{10 * 3});
    QVERIFY(std::memcmp(a.data(), d.data(), a.size() * sizeof(float)) == 0);
    QVERIFY(LlamaModel::planned_bytes(c, {1, 8, true, 0}, in_place, nullptr, true).workspace <
            LlamaModel::planned_bytes(c, {1, 8, true, 0}, in_place, nullptr, false).workspace);
}

// qlora bench train's weights: the shape asked for, deterministic in the seed, linear weights
// with transformers' initializer_range as standard deviation, norms 1.
void TestModel::randomModelForBenchmarks() {
    LlamaConfig c = benchmark_shape("llama-1b");
    QCOMPARE(c.hidden_size, std::int64_t{2048});
    QCOMPARE(c.num_kv_heads, std::int64_t{4});
    QCOMPARE(benchmark_shape("llama-7b").intermediate_size, std::int64_t{11008});
    QVERIFY_THROWS_EXCEPTION(ConfigError, benchmark_shape("llama-70b"));
    c.num_layers = 1;
    c.vocab_size = 1000;
    const Model a = random_model(c, DType::BF16, 1), b = random_model(c, DType::BF16, 1), d = random_model(c, DType::BF16, 2);
    const auto& wa = a.weights.get("model.layers.0.mlp.up_proj.weight");
    QCOMPARE(wa.view.dtype, DType::BF16);
    QCOMPARE(wa.shape, (Shape{5632, 2048}));
    const auto& wb = b.weights.get("model.layers.0.mlp.up_proj.weight");
    const auto& wd = d.weights.get("model.layers.0.mlp.up_proj.weight");
    QVERIFY(std::equal(wa.view.data.begin(), wa.view.data.end(), wb.view.data.begin()));
    QVERIFY(!std::equal(wa.view.data.begin(), wa.view.data.end(), wd.view.data.begin()));
    const std::vector<float> v = to_f32(wa.view);
    double sum = 0, sq = 0;
    for (float x : v) {
        sum += x;
        sq += double(x) * x;
    }
    const double n = static_cast<double>(v.size()), mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
    // 11.5M samples: the sample standard deviation's relative error is ~1e-4 (sd 2e-6) and bf16
    // rounding of each value adds under 2^-9 relative; a bound of 1% of 0.02 (2e-4) is far
    // outside both. The mean's standard error is 0.02 / sqrt(11.5M) = 6e-6; 1e-4 is 17 of them.
    QVERIFY2(std::fabs(sd - 0.02) < 2e-4 && std::fabs(mean) < 1e-4, qPrintable(QString("%1 %2").arg(mean).arg(sd)));
    for (float x : to_f32(a.weights.get("model.norm.weight").view)) QCOMPARE(x, 1.0f);
}

QTEST_GUILESS_MAIN(TestModel)
#include "test_model.moc"
