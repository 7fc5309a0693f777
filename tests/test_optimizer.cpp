// The optimizer side of the trainer: AdamW against torch's formula computed here by hand and
// against peft/torch on ../shared/fixtures/ref/lora (clip 0.3, lr 1e-3, wd 0.01), the HF
// learning-rate schedules, memory accounting, state export/import and config errors (paging:
// test_paging.cpp).
#include <QtTest>
#include <cmath>
#include <cstring>
#include <random>

#include "core/backend/cpu/cpu_backend.h"
#include "core/model/llama_model.h"
#include "core/model/model_loader.h"
#include "core/train/adamw_optimizer.h"
#include "core/train/lr_schedule.h"
#include "adamw_step_bound.h"
#include "model_test_support.h"
#include "optimizer_test_support.h"
#include "test_support.h"

using namespace qls;
using namespace qls::test;

class TestOptimizer : public QObject {
    Q_OBJECT
private slots:
    void adamwMatchesTorchFormula_data();
    void adamwMatchesTorchFormula();
    void loraReferenceStep_data();
    void loraReferenceStep();
    void nonFiniteGradientSkipsStep_data();
    void nonFiniteGradientSkipsStep();
    void scheduleValues();
    void warmupFromRatio();
    void memoryAccounting();
    void resumeIsBitIdentical();
    void importRejectsBadState();
    void badConfigs();
};

void TestOptimizer::adamwMatchesTorchFormula_data() {
    QTest::addColumn<double>("weightDecay");
    QTest::addColumn<double>("maxNorm");
    QTest::newRow("plain") << 0.0 << 0.0;
    QTest::newRow("weight decay") << 0.1 << 0.0;
    QTest::newRow("clipped") << 0.0 << 0.3;
    QTest::newRow("weight decay + clipped") << 0.1 << 0.3;
}

// torch.optim.AdamW (single-tensor path) and clip_grad_norm_, written out in double.
void TestOptimizer::adamwMatchesTorchFormula() {
    QFETCH(double, weightDecay);
    QFETCH(double, maxNorm);
    CpuBackend be;
    ToyParams toy(be, {5, 3}, 7);
    AdamWConfig cfg;
    cfg.weight_decay = weightDecay;
    cfg.max_grad_norm = maxNorm;
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    AdamWOptimizer opt(be, toy.params, cfg);
    std::vector<std::vector<double>> p, m, v;
    for (const auto& x : all_values(be, toy.params)) {
        p.emplace_back(x.begin(), x.end());
        m.emplace_back(x.size(), 0.0);
        v.emplace_back(x.size(), 0.0);
    }
    for (int t = 1; t <= 3; ++t) {
        set_grads(be, toy.params, t);
        double sq = 0;
        std::vector<std::vector<float>> g;
        for (const auto& q : toy.params) g.push_back(download(be, q.grad));
        for (const auto& gi : g)
            for (float x : gi) sq += double(x) * x;
        const double norm = std::sqrt(sq);
        const double coef = maxNorm > 0 ? std::min(1.0, maxNorm / (norm + 1e-6)) : 1.0;
        const OptimizerStepResult r = opt.step(lr);
        QVERIFY(r.applied);
        // Σ g² is rounded once into fp32 on the device (2^-24 relative), half that in the norm;
        // the coefficient is a few fp32 operations on it.
        QVERIFY(std::fabs(r.grad_norm - norm) <= 0x1p-24 * norm);
        QVERIFY(std::fabs(r.clip_coef - coef) <= 0x1p-21 * coef);
        if (maxNorm > 0) QVERIFY(r.clip_coef < 1.0f);
        const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
        for (std::size_t i = 0; i < p.size(); ++i)
            for (std::size_t j = 0; j < p[i].size(); ++j) {
                const double gj = g[i][j] * coef;
                p[i][j] *= 1 - lr * weightDecay;
                m[i][j] = b1 * m[i][j] + (1 - b1) * gj;
                v[i][j] = b2 * v[i][j] + (1 - b2) * gj * gj;
                p[i][j] -= lr / bc1 * m[i][j] / (std::sqrt(v[i][j]) / std::sqrt(bc2) + eps);
            }
        const auto got = all_values(be, toy.params);
        for (std::size_t i = 0; i < p.size(); ++i)
            for (std::size_t j = 0; j < p[i].size(); ++j)
                QVERIFY2(std::fabs(got[i][j] - p[i][j]) < 1e-6,
                         qPrintable(QString("step %1 param %2[%3]: %4 vs %5")
                                        .arg(t)
                                        .arg(i)
                                        .arg(j)
                                        .arg(got[i][j])
                                        .arg(p[i][j])));
    }
    QCOMPARE(opt.step_count(), 3);
}

void TestOptimizer::loraReferenceStep_data() {
    QTest::addColumn<QString>("folder");
    QTest::addColumn<QString>("base");
    QTest::addColumn<bool>("rslora");
    QTest::addColumn<qint64>("budget");
    for (auto [folder, base, rslora] : {std::tuple{"llama3-tiny", "llama3-tiny", false},
                                        std::tuple{"qwen2-tiny-rslora", "qwen2-tiny", true}}) {
        QTest::addRow("%s, resident", folder) << folder << base << rslora << qint64(0);
        QTest::addRow("%s, paged, 3 pages of 4 KiB", folder) << folder << base << rslora << qint64(3 * 4096);
    }
}

// One clipped AdamW step (clip 0.3, lr 1e-3, wd 0.01) against peft + torch's "after.*":
// first on the reference's own gradients, which tests the update itself, then on the
// gradients our model computes, bounded by their difference times Adam's sensitivity
// (tests/adamw_step_bound.h) rather than by a fixed number.
void TestOptimizer::loraReferenceStep() {
    QFETCH(QString, folder);
    QFETCH(QString, base);
    QFETCH(bool, rslora);
    QFETCH(qint64, budget);
    CpuBackend be;
    Model model = load_model(ref_dir() / "models" / base.toStdString());
    DeviceBaseModel base_model(be, model, {std::nullopt});
    SafetensorsFile ref(ref_dir() / "lora" / folder.toStdString() / "reference.safetensors");
    LoraConfig lc;
    lc.rank = 4;
    lc.alpha = 8;
    lc.dropout = 0;
    lc.rslora = rslora;
    LoraParameters lora(be, model.config, lc);
    AdamWConfig cfg;
    cfg.lr = 1e-3;
    cfg.weight_decay = 0.01;
    cfg.max_grad_norm = 0.3;
    const float ref_norm = ref.tensor("grad_norm").as<float>()[0];
    const double ref_coef = std::min(1.0, cfg.max_grad_norm / (ref_norm + 1e-6));
    auto reset = [&] {
        for (const auto& p : lora.params()) be.copy_from_host(p.value, ref.tensor(peft_key("before", p.name)).data);
    };
    // Checks every weight after a step whose gradients were `grads` and clip coefficient `coef`.
    auto check_after = [&](const char* what, const std::vector<std::vector<float>>& grads, double coef) {
        for (std::size_t k = 0; k < lora.params().size(); ++k) {
            const auto& p = lora.params()[k];
            const auto after = download(be, p.value);
            const auto want = ref.tensor(peft_key("after", p.name)).as<float>();
            const auto before = ref.tensor(peft_key("before", p.name)).as<float>();
            const auto ref_grad = ref.tensor(peft_key("grad", p.name)).as<float>();
            QCOMPARE(after.size(), want.size());
            for (std::size_t i = 0; i < after.size(); ++i) {
                const double bound = test::adamw_first_step_bound(before[i], coef * grads[k][i], ref_coef * ref_grad[i],
                                                                  cfg.lr, cfg.eps);
                QVERIFY2(std::fabs(double(after[i]) - want[i]) <= bound,
                         qPrintable(QString("%1: %2[%3] %4 vs %5, bound %6")
                                        .arg(what, QString::fromStdString(p.name))
                                        .arg(i).arg(after[i]).arg(want[i]).arg(bound)));
            }
        }
    };

    {  // The update on the reference's gradients.
        reset();
        std::vector<std::vector<float>> grads;
        for (const auto& p : lora.params()) {
            be.copy_from_host(p.grad, ref.tensor(peft_key("grad", p.name)).data);
            grads.push_back(download(be, p.grad));
        }
        AdamWOptimizer opt(be, lora.params(), cfg, {4096, budget});
        const OptimizerStepResult r = opt.step(cfg.lr);
        QVERIFY(r.applied && r.clip_coef < 1.0f);
        check_after("reference gradients", grads, r.clip_coef);
        QCOMPARE(opt.drain_paging_events().empty(), budget == 0);
    }
    {  // The whole step on our gradients.
        reset();
        const TensorView& labels = ref.tensor("labels");
        const Batch batch = test::batch_from_ids(ref.tensor("input_ids"), &labels);
        LlamaModel lm(be, base_model, &lora, {batch.batch, batch.seq_len, true, 0});
        lora.zero_grads();
        lm.forward_backward(batch, 1.0f / static_cast<float>(batch.trained_tokens()), 0);
        std::vector<std::vector<float>> grads;
        for (const auto& p : lora.params()) grads.push_back(download(be, p.grad));
        AdamWOptimizer opt(be, lora.params(), cfg, {4096, budget});
        const OptimizerStepResult r = opt.step(cfg.lr, lm.loss_sum());
        QVERIFY(r.applied);
        // Bound from the fp32 model parity: our gradients equal peft's to about 1e-5 relative
        // (test_model), so their norm does too; 1e-4 is that parity bound (PRODUCT.md).
        QVERIFY2(std::fabs(r.grad_norm - ref_norm) < 1e-4 * ref_norm,
                 qPrintable(QString("%1 vs %2").arg(r.grad_norm).arg(ref_norm)));
        const double ref_loss = ref.tensor("loss").as<float>()[0];
        QVERIFY(std::fabs(r.loss_sum / double(batch.trained_tokens()) - ref_loss) < 1e-4 * ref_loss);
        check_after("our gradients", grads, r.clip_coef);
    }
}

void TestOptimizer::nonFiniteGradientSkipsStep_data() {
    QTest::addColumn<qint64>("budget");
    QTest::newRow("resident") << qint64(0);
    QTest::newRow("paged, 3 of 5 pages") << qint64(3 * 16);  // pages keep moving on skipped steps
}

void TestOptimizer::nonFiniteGradientSkipsStep() {
    QFETCH(qint64, budget);
    CpuBackend be;
    ToyParams toy(be, {4, 6}, 3);
    AdamWOptimizer opt(be, toy.params, {}, {16, budget});
    set_grads(be, toy.params, 1);
    QVERIFY(opt.step(1e-3).applied);
    const auto before = all_values(be, toy.params);
    const auto state_before = opt.export_state();
    const float bad[] = {1.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f};
    be.copy_from_host(Tensor{toy.params[1].grad.data, DType::F32, {3}}, std::as_bytes(std::span(bad)));
    const OptimizerStepResult r = opt.step(1e-3);
    QVERIFY(!r.applied);
    QVERIFY(std::isnan(r.grad_norm));
    auto unchanged = [&] {
        QCOMPARE(opt.step_count(), 1);
        QCOMPARE(all_values(be, toy.params), before);
        const auto state_after = opt.export_state();
        QCOMPARE(state_after.size(), state_before.size());
        for (std::size_t i = 0; i < state_after.size(); ++i) QVERIFY(state_after[i].data == state_before[i].data);
    };
    unchanged();
    // A non-finite loss with finite gradients is skipped on the device too.
    set_grads(be, toy.params, 2);
    Buffer loss = be.allocate(sizeof(float), Usage::Workspace, "loss");
    const float inf = std::numeric_limits<float>::infinity();
    be.copy_from_host(loss.whole(DType::F32), std::as_bytes(std::span(&inf, 1)));
    const OptimizerStepResult r2 = opt.step(1e-3, loss.whole(DType::F32));
    QVERIFY(!r2.applied);
    QVERIFY(std::isinf(r2.loss_sum) && std::isfinite(r2.grad_norm));
    unchanged();
}

// HF's lambdas written out by hand: warm-up step/warmup, linear (total - step)/(total - warmup),
// cosine 0.5·(1 + cos(π·(step - warmup)/(total - warmup))).
void TestOptimizer::scheduleValues() {
    const double base = 1e-3;
    LrScheduleConfig c;
    c.warmup_steps = 3;
    const auto near = [](double a, double b) { return std::fabs(a - b) <= 1e-15; };
    c.type = LrScheduleType::Constant;
    LrSchedule constant(base, c, 10);
    QVERIFY(near(constant.lr_at(0), 0.0));
    QVERIFY(near(constant.lr_at(1), base / 3));
    QVERIFY(near(constant.lr_at(2), base * 2 / 3));
    QVERIFY(near(constant.lr_at(3), base));
    QVERIFY(near(constant.lr_at(9), base));
    c.type = LrScheduleType::Linear;
    LrSchedule linear(base, c, 10);
    QVERIFY(near(linear.lr_at(2), base * 2 / 3));
    QVERIFY(near(linear.lr_at(3), base));
    QVERIFY(near(linear.lr_at(4), base * 6 / 7));
    QVERIFY(near(linear.lr_at(9), base / 7));  // the last update
    QVERIFY(near(linear.lr_at(10), 0.0));
    QVERIFY(near(linear.lr_at(12), 0.0));
    c.type = LrScheduleType::Cosine;
    LrSchedule cosine(base, c, 10);
    QVERIFY(near(cosine.lr_at(1), base / 3));
    QVERIFY(near(cosine.lr_at(3), base));
    QVERIFY(near(cosine.lr_at(4), base * 0.9504844339512095));
    QVERIFY(near(cosine.lr_at(9), base * 0.04951556604879048));
    QVERIFY(near(cosine.lr_at(10), 0.0));
    // Without warm-up the first update already runs at the full rate.
    LrSchedule flat(base, {LrScheduleType::Constant, 0, 0.0}, 5);
    QVERIFY(near(flat.lr_at(0), base));
    LrSchedule lin0(base, {LrScheduleType::Linear, 0, 0.0}, 4);
    QVERIFY(near(lin0.lr_at(0), base));
    QVERIFY(near(lin0.lr_at(3), base / 4));
    QCOMPARE(parse_lr_schedule("constant_with_warmup"), LrScheduleType::Constant);
    QCOMPARE(parse_lr_schedule("cosine"), LrScheduleType::Cosine);
    QCOMPARE(lr_schedule_name(LrScheduleType::Linear), std::string_view("linear"));
    QLS_VERIFY_THROWS_WITH(parse_lr_schedule("polynomial"), ConfigError, "polynomial");
}

// TrainingArguments.get_warmup_steps: warmup_steps if > 0 else ceil(total · ratio).
void TestOptimizer::warmupFromRatio() {
    QCOMPARE((LrSchedule(2e-4, {LrScheduleType::Constant, 0, 0.03}, 1875).warmup_steps()), std::int64_t{57});
    QCOMPARE((LrSchedule(2e-4, {LrScheduleType::Constant, 0, 0.25}, 10).warmup_steps()), std::int64_t{3});
    QCOMPARE((LrSchedule(2e-4, {LrScheduleType::Constant, 0, 0.03}, 10).warmup_steps()), std::int64_t{1});
    QCOMPARE((LrSchedule(2e-4, {LrScheduleType::Constant, 5, 0.5}, 100).warmup_steps()), std::int64_t{5});
    QCOMPARE((LrSchedule(2e-4, {LrScheduleType::Constant, 0, 0.0}, 100).warmup_steps()), std::int64_t{0});
}

void TestOptimizer::memoryAccounting() {
    CpuBackend be;
    ToyParams toy(be, {1000, 1000, 500}, 2);  // 2500 elements: 10 pages of 256 elements
    const auto now = [&](Usage u) { return be.memory().snapshot().current_of(u); };
    for (std::int64_t budget : {std::int64_t{0}, std::int64_t{4 * 2048}, std::int64_t{4 * 2048 + 100}}) {
        {
            AdamWOptimizer opt(be, toy.params, {}, {2048, budget});
            std::int64_t resident = 0;
            for (std::int64_t p = 0; p < opt.state().page_count(); ++p)
                resident += opt.state().is_resident(p);
            QCOMPARE(opt.state().page_count(), 10);
            QCOMPARE(resident, budget == 0 ? 10 : 4);
            // The pages plus the step control scalars.
            const std::int64_t state = resident * 2048 + std::int64_t{AdamWOptimizer::kControlBytes};
            QCOMPARE(now(Usage::OptimizerState), state);
            QCOMPARE(now(Usage::PagedHost), budget == 0 ? 0 : 10 * 2048);
            QCOMPARE(optimizer_device_bytes(2500, budget, 2048), resident * 2048);
            QCOMPARE(optimizer_host_bytes(2500, budget, 2048), now(Usage::PagedHost));
            set_grads(be, toy.params, 1);
            opt.step(1e-3);
            QCOMPARE(now(Usage::OptimizerState), state);  // paging moves, never grows
        }
        QCOMPARE(now(Usage::OptimizerState), 0);
        QCOMPARE(now(Usage::PagedHost), 0);
    }
    QCOMPARE(optimizer_device_bytes(2500, 1 << 20, 2048), 10 * 2048);
    // The device limit covers the resident pages.
    be.memory().set_device_limit(be.memory().snapshot().device_current + 3 * 2048);
    QVERIFY_THROWS_EXCEPTION(OutOfMemoryError, AdamWOptimizer(be, toy.params, {}, {2048, 4 * 2048}));
}

// 5 steps straight vs 2 steps, export, a fresh optimizer (paged differently) importing, 3 steps.
void TestOptimizer::resumeIsBitIdentical() {
    const std::vector<std::int64_t> sizes = {130, 260, 40};
    CpuBackend be;
    ToyParams straight(be, sizes, 9), resumed(be, sizes, 9);
    AdamWConfig cfg;
    cfg.weight_decay = 0.05;
    {
        AdamWOptimizer opt(be, straight.params, cfg);
        for (int s = 1; s <= 5; ++s) {
            set_grads(be, straight.params, s);
            opt.step(1e-2);
        }
    }
    std::vector<OwnedTensor> saved;
    {
        AdamWOptimizer opt(be, resumed.params, cfg, {512, 2 * 512});
        for (int s = 1; s <= 2; ++s) {
            set_grads(be, resumed.params, s);
            opt.step(1e-2);
        }
        saved = opt.export_state();
    }
    QCOMPARE(saved.size(), std::size_t{7});
    QCOMPARE(saved[0].name, std::string("layer.0.exp_avg"));
    QCOMPARE(saved[1].name, std::string("layer.0.exp_avg_sq"));
    QCOMPARE(saved[1].shape, (Shape{130}));
    QCOMPARE(saved[6].name, std::string("step"));
    std::int64_t step = 0;
    std::memcpy(&step, saved[6].data.data(), sizeof step);
    QCOMPARE(step, 2);
    AdamWOptimizer opt(be, resumed.params, cfg, {1024, 1024});
    opt.import_state(saved);
    QCOMPARE(opt.step_count(), 2);
    QVERIFY(opt.export_state()[3].data == saved[3].data);
    for (int s = 3; s <= 5; ++s) {
        set_grads(be, resumed.params, s);
        opt.step(1e-2);
    }
    QVERIFY(all_values(be, straight.params) == all_values(be, resumed.params));
}

void TestOptimizer::importRejectsBadState() {
    CpuBackend be;
    ToyParams toy(be, {8, 4}, 1);
    AdamWOptimizer opt(be, toy.params, {});
    std::vector<OwnedTensor> good = opt.export_state();
    auto missing = good;
    missing.erase(missing.begin() + 2);
    QLS_VERIFY_THROWS_WITH(opt.import_state(missing), FormatError, "'layer.1.exp_avg'");
    auto misshaped = good;
    misshaped[1].shape = {4, 2};
    QLS_VERIFY_THROWS_WITH(opt.import_state(misshaped), FormatError, "'layer.0.exp_avg_sq'");
    auto extra = good;
    extra.push_back(good[0]);
    extra.back().name = "layer.9.exp_avg";
    QLS_VERIFY_THROWS_WITH(opt.import_state(extra), FormatError, "expected 5");
    auto no_step = good;
    no_step.pop_back();
    QLS_VERIFY_THROWS_WITH(opt.import_state(no_step), FormatError, "'step'");
}

void TestOptimizer::badConfigs() {
    CpuBackend be;
    ToyParams toy(be, {8}, 1);
    const auto make = [&](AdamWConfig c, PagingConfig p = {}) { AdamWOptimizer(be, toy.params, c, p); };
    AdamWConfig c;
    c.lr = 0;
    QLS_VERIFY_THROWS_WITH(make(c), ConfigError, "optim.learning_rate: must be a number greater than 0");
    c = {};
    c.lr = -1e-4;
    QLS_VERIFY_THROWS_WITH(make(c), ConfigError, "optim.learning_rate: must be a number greater than 0");
    c = {};
    c.beta1 = 1.0;
    QLS_VERIFY_THROWS_WITH(make(c), ConfigError, "optim.adam_beta1: ");
    c = {};
    c.beta2 = -0.1;
    QLS_VERIFY_THROWS_WITH(make(c), ConfigError, "optim.adam_beta2: ");
    c = {};
    c.weight_decay = -0.01;
    QLS_VERIFY_THROWS_WITH(make(c), ConfigError, "optim.weight_decay: ");
    c = {};
    c.max_grad_norm = -1;
    QLS_VERIFY_THROWS_WITH(make(c), ConfigError, "optim.max_grad_norm: ");
    QLS_VERIFY_THROWS_WITH((make({}, {12, 0})), ConfigError, "optim.page_bytes: must be a positive multiple of 8 bytes");
    QLS_VERIFY_THROWS_WITH((make({}, {1024, 1000})), ConfigError, "optim.optimizer_budget_bytes: must be 0 (no limit) or at least one page");
    QLS_VERIFY_THROWS_WITH((LrSchedule(1e-4, {LrScheduleType::Linear, 0, 1.0}, 10)), ConfigError,
                           "optim.warmup_ratio: ");
    QLS_VERIFY_THROWS_WITH((LrSchedule(1e-4, {LrScheduleType::Linear, 0, -0.1}, 10)), ConfigError,
                           "optim.warmup_ratio: ");
    QLS_VERIFY_THROWS_WITH((LrSchedule(0, {}, 10)), ConfigError, "optim.learning_rate: must be a number greater than 0");
    QLS_VERIFY_THROWS_WITH((LrSchedule(1e-4, {LrScheduleType::Linear, -1, 0}, 10)), ConfigError,
                           "optim.warmup_steps: ");
}

QTEST_GUILESS_MAIN(TestOptimizer)
#include "test_optimizer.moc"
