// Whole-model gradient check: every LoRA gradient LlamaModel::forward_backward returns against
// central differences of the loss LlamaModel::evaluate returns, on a tiny random fp32 Llama
// built in memory (Llama and a Qwen2-like variant with q/k/v biases and tied embeddings), with
// packed segments, padding and ignored targets in the batch, with and without checkpointing.
// Parameters are perturbed through Backend::copy_from_host, as a device backend would need.
//
// C hidden 16, I 24, 2 layers, 4 query heads / 2 KV heads of 4, V 37, LoRA rank 2 everywhere.
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "core/backend/cpu/cpu_backend.h"
#include "core/model/llama_model.h"
#include "core/model/llama_tensors.h"
#include "core/model/model_loader.h"
#include "core/util/parallel.h"
#include "model_test_support.h"

using namespace qls;
using qls::test::tiny_config;
using qls::test::tiny_model;

namespace {

// Row 0 packs two examples (5 and 7 tokens, positions restarting); row 1 holds one example of
// 8 tokens and 4 of padding (segment −1). Segment ends, padding and a prompt are ignored.
Batch tiny_batch(std::int64_t vocab, std::uint64_t seed) {
    constexpr std::int64_t kT = 12;
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::int32_t> token(1, static_cast<std::int32_t>(vocab - 1));
    Batch b;
    b.batch = 2;
    b.seq_len = kT;
    const std::vector<std::int32_t> segments = {0, 0, 0, 0, 0, 1, 1, 1, 1,  1,  1,  1,
                                                0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1};
    for (std::size_t i = 0; i < segments.size(); ++i) {
        const bool pad = segments[i] < 0;
        b.tokens.push_back(pad ? 0 : token(rng));
        b.segments.push_back(segments[i]);
        const bool starts = i % kT == 0 || segments[i - 1] != segments[i];
        b.positions.push_back(pad || starts ? 0 : b.positions.back() + 1);
    }
    for (std::size_t i = 0; i < segments.size(); ++i) {
        const bool last = (i + 1) % kT == 0 || segments[i + 1] != segments[i];
        const bool prompt = segments[i] == 1 && b.positions[i] < 2;
        b.targets.push_back(segments[i] < 0 || last || prompt ? kIgnoreIndex : b.tokens[i + 1]);
    }
    return b;
}

std::vector<float> download(Backend& be, const Tensor& t) {
    std::vector<float> v(static_cast<std::size_t>(t.numel()));
    be.copy_to_host(t, std::as_writable_bytes(std::span(v)));
    return v;
}

void upload(Backend& be, const Tensor& t, const std::vector<float>& v) {
    be.copy_from_host(t, std::as_bytes(std::span(v)));
}

// The mean loss with parameter `t` set to `v` (then restored by the caller).
double loss_at(Backend& be, LlamaModel& model, const Batch& batch, const Tensor& t,
               const std::vector<float>& v) {
    upload(be, t, v);
    return model.evaluate(batch).mean();
}

// Fourth-order central difference along `dir` (h⁴ truncation, so h can be large enough to
// drown fp32 rounding of the loss).
double directional_fd(Backend& be, LlamaModel& model, const Batch& batch, const Tensor& t,
                      const std::vector<float>& x, const std::vector<double>& dir, double h) {
    auto at = [&](double s) {
        std::vector<float> p(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) p[i] = static_cast<float>(x[i] + s * dir[i]);
        return loss_at(be, model, batch, t, p);
    };
    const double d = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
    upload(be, t, x);
    return d;
}

}  // namespace

class TestModelGradcheck : public QObject {
    Q_OBJECT
private slots:
    // The model is tiny: worker threads would only add waiting, many times per check.
    void initTestCase() { set_num_threads(1); }
    void cleanupTestCase() { set_num_threads(0); }
    void loraGradients_data();
    void loraGradients();
};

void TestModelGradcheck::loraGradients_data() {
    QTest::addColumn<bool>("qwen2");
    QTest::addColumn<bool>("tied");
    QTest::addColumn<bool>("checkpointing");
    QTest::addColumn<int>("logits_chunk");
    QTest::newRow("llama/untied/checkpointing") << false << false << true << 0;
    QTest::newRow("llama/untied/no-checkpointing") << false << false << false << 0;
    QTest::newRow("qwen2/tied/checkpointing/chunked-logits") << true << true << true << 5;
    QTest::newRow("qwen2/tied/no-checkpointing") << true << true << false << 0;
}

// Each LoRA tensor: 30 sampled elements against element-wise differences (relative error of
// the sample as a vector) and the whole tensor along one random direction; then every tensor
// together along the gradient.
void TestModelGradcheck::loraGradients() {
    QFETCH(bool, qwen2);
    QFETCH(bool, tied);
    QFETCH(bool, checkpointing);
    QFETCH(int, logits_chunk);
    CpuBackend be;
    const LlamaConfig config = tiny_config(qwen2, tied);
    const Model model = tiny_model(config, qwen2 ? 11 : 7);
    const DeviceBaseModel base(be, model, {std::nullopt});
    LoraConfig lc;
    lc.rank = 2;
    lc.alpha = 4;
    lc.dropout = 0;
    lc.seed = 3;
    LoraParameters lora(be, config, lc);
    std::mt19937_64 rng(5);
    std::normal_distribution<float> normal(0.0f, 0.3f);
    for (const auto& p : lora.params())
        if (p.name.ends_with("lora_B")) {  // PEFT's B = 0 would leave A without a gradient
            std::vector<float> v(static_cast<std::size_t>(p.value.numel()));
            for (float& x : v) x = normal(rng);
            upload(be, p.value, v);
        }
    const Batch batch = tiny_batch(config.vocab_size, 9);
    LlamaModel llama(be, base, &lora, {batch.batch, batch.seq_len, checkpointing, logits_chunk});

    const std::int64_t tokens = batch.trained_tokens();
    QCOMPARE(tokens, std::int64_t{15});
    llama.forward_backward(batch, 1.0f / static_cast<float>(tokens), 1);
    const LossSum trained = llama.read_loss();
    QCOMPARE(trained.tokens, tokens);
    const double loss = llama.evaluate(batch).mean();
    QVERIFY2(std::fabs(trained.mean() - loss) < 1e-6 * loss,
             qPrintable(QString("%1 vs %2").arg(trained.mean()).arg(loss)));

    // fp32 losses carry ~3e-7 of rounding; the 4th-order stencil divides it by ~h, so
    // derivatives are good to ~3e-5 absolute, with h⁴ truncation far below that.
    constexpr double kH = 1e-2, kNoise = 1e-4;
    double worst_sample = 0, worst_dir = 0;
    std::vector<std::vector<float>> values, grads;
    for (const auto& p : lora.params()) {
        values.push_back(download(be, p.value));
        grads.push_back(download(be, p.grad));
        const std::vector<float>& x = values.back();
        const std::vector<float>& g = grads.back();
        std::vector<std::size_t> idx(x.size());
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        std::shuffle(idx.begin(), idx.end(), rng);
        idx.resize(std::min<std::size_t>(idx.size(), 30));
        double err = 0, norm = 0;
        for (std::size_t i : idx) {
            std::vector<double> e(x.size(), 0.0);
            e[i] = 1.0;
            const double fd = directional_fd(be, llama, batch, p.value, x, e, kH);
            err += (fd - g[i]) * (fd - g[i]);
            norm += fd * fd;
        }
        const double rel = std::sqrt(err / norm);
        worst_sample = std::max(worst_sample, rel);
        QVERIFY2(rel < 2e-3, qPrintable(QString("%1: sampled gradient relative error %2")
                                            .arg(QString::fromStdString(p.name))
                                            .arg(rel)));

        std::vector<double> dir(x.size());
        double dot = 0, dn = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
            dir[i] = normal(rng);
            dn += dir[i] * dir[i];
        }
        for (std::size_t i = 0; i < x.size(); ++i) dot += g[i] * (dir[i] /= std::sqrt(dn));
        const double fd = directional_fd(be, llama, batch, p.value, x, dir, kH);
        // A random direction's derivative can be small: allow the differences' own noise.
        const double diff = std::fabs(fd - dot);
        worst_dir = std::max(worst_dir, diff);
        QVERIFY2(diff < 1e-3 * std::fabs(dot) + kNoise,
                 qPrintable(QString("%1: directional derivative %2 vs %3")
                                .arg(QString::fromStdString(p.name))
                                .arg(dot)
                                .arg(fd)));
    }
    // Every tensor at once along the gradient itself: the derivative there is |g|, large
    // enough for a tight relative bound.
    double total = 0;
    for (const std::vector<float>& g : grads)
        for (float x : g) total += static_cast<double>(x) * x;
    const double norm = std::sqrt(total);
    auto at = [&](double s) {
        for (std::size_t k = 0; k < grads.size(); ++k) {
            std::vector<float> p(values[k].size());
            for (std::size_t i = 0; i < p.size(); ++i)
                p[i] = static_cast<float>(values[k][i] + s * grads[k][i] / norm);
            upload(be, lora.params()[k].value, p);
        }
        return llama.evaluate(batch).mean();
    };
    const double fd = (8 * (at(kH) - at(-kH)) - (at(2 * kH) - at(-2 * kH))) / (12 * kH);
    const double along = std::fabs(fd - norm) / norm;
    QVERIFY2(along < 1e-4,
             qPrintable(QString("along the gradient: |g| %1, differences %2").arg(norm).arg(fd)));
    qInfo(
        "sampled elements: worst relative error %.2e; random directions: worst absolute error "
        "%.2e; along the gradient (|g| = %.3f): relative error %.2e",
        worst_sample, worst_dir, norm, along);
}

QTEST_GUILESS_MAIN(TestModelGradcheck)
#include "test_model_gradcheck.moc"
