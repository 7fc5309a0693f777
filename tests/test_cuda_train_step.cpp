// The whole QLoRA training step on the GPU: forward, backward, the clipped AdamW update, through
// the same model code as the CPU (LlamaModel, LoraParameters, AdamWOptimizer), on the reference
// tiny models. Two comparisons:
// - fp32 on the GPU against the transformers + peft fixtures directly, with the bounds the CPU's
//   own parity tests use (test_model loraParity, test_optimizer loraReferenceStep);
// - every compute dtype on the GPU against the CPU twin, same weights and batch: loss, every LoRA
//   gradient and every updated weight.
// Skips without a GPU.
#include <QtTest>

#include "adamw_step_bound.h"
#include "core/backend/cpu/cpu_backend.h"
#include "core/io/safetensors_reader.h"
#include "core/model/llama_model.h"
#include "core/train/adamw_optimizer.h"
#include "kernels/cuda_backend.h"
#include "kernels/device_info.h"
#include "model_test_support.h"
#include "tests/test_support.h"

using namespace qls;
using test::download;
using test::peft_key;
using test::ref_dir;

namespace {

// ‖a − b‖ / ‖b‖.
double norm_relative(std::span<const float> a, std::span<const float> b) {
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        diff += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
        norm += double(b[i]) * b[i];
    }
    return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

struct StepResult {
    std::vector<float> logits;
    double loss = 0;
    double grad_norm = 0;
    float clip_coef = 1.0f;
    std::vector<std::vector<float>> grads, after;
    std::vector<std::string> names;
};

AdamWConfig step_config() {
    AdamWConfig cfg;  // test_optimizer loraReferenceStep's: the fixture's "after" used these
    cfg.lr = 1e-3;
    cfg.weight_decay = 0.01;
    cfg.max_grad_norm = 0.3;
    return cfg;
}

// One step of the reference adapter (its "before" weights) on `backend`.
StepResult run_step(Backend& backend, const QString& folder, const QString& base, bool rslora, BaseWeightsOptions opt,
                    std::int64_t paging_budget) {
    const Model model = load_model(ref_dir() / "models" / base.toStdString());
    DeviceBaseModel base_model(backend, model, opt);
    SafetensorsFile ref(ref_dir() / "lora" / folder.toStdString() / "reference.safetensors");
    LoraConfig lc;
    lc.rank = 4;
    lc.alpha = 8;
    lc.dropout = 0;
    lc.rslora = rslora;
    LoraParameters lora(backend, model.config, lc);
    for (const auto& p : lora.params()) backend.copy_from_host(p.value, ref.tensor(peft_key("before", p.name)).data);
    const TensorView& labels = ref.tensor("labels");
    const Batch batch = test::batch_from_ids(ref.tensor("input_ids"), &labels);
    LlamaModel lm(backend, base_model, &lora, {batch.batch, batch.seq_len, true, 0, opt.compute});
    StepResult r;
    r.logits = lm.logits(batch);
    lora.zero_grads();
    lm.forward_backward(batch, 1.0f / static_cast<float>(batch.trained_tokens()), 0);
    for (const auto& p : lora.params()) {
        r.grads.push_back(download(backend, p.grad));
        r.names.push_back(p.name);
    }
    const AdamWConfig cfg = step_config();
    AdamWOptimizer opt_(backend, lora.params(), cfg, {4096, paging_budget});
    const OptimizerStepResult s = opt_.step(cfg.lr, lm.loss_sum());
    if (!s.applied) throw Error("the step was not applied");
    r.loss = s.loss_sum / static_cast<double>(batch.trained_tokens());
    r.grad_norm = s.grad_norm;
    r.clip_coef = s.clip_coef;
    for (const auto& p : lora.params()) r.after.push_back(download(backend, p.value));
    return r;
}

void add_reference_rows() {
    QTest::addColumn<QString>("folder");
    QTest::addColumn<QString>("base");
    QTest::addColumn<bool>("rslora");
}

}  // namespace

class TestCudaTrainStep : public QObject {
    Q_OBJECT
private slots:
    void init() {
        if (!cuda::device_available()) QSKIP("no CUDA device");
    }

    void fp32AgainstPeft_data() {
        add_reference_rows();
        QTest::addColumn<qint64>("budget");
        for (auto [folder, base, rslora] : {std::tuple{"llama3-tiny", "llama3-tiny", false},
                                            std::tuple{"qwen2-tiny-rslora", "qwen2-tiny", true}}) {
            QTest::addRow("%s, resident", folder) << folder << base << rslora << qint64(0);
            // The optimizer state paged through pinned host memory on the copy stream.
            QTest::addRow("%s, paged", folder) << folder << base << rslora << qint64(3 * 4096);
        }
    }

    // The GPU in fp32 on the dense base is transformers + peft's step: the bounds of the CPU's
    // parity tests (test_model loraParity: logits 1e-4, loss 1e-4, each gradient 1e-3 relative,
    // fp32 noise through a few layers; the update per element by tests/adamw_step_bound.h).
    void fp32AgainstPeft() {
        QFETCH(QString, folder);
        QFETCH(QString, base);
        QFETCH(bool, rslora);
        QFETCH(qint64, budget);
        cuda::CudaBackend gpu(0);
        const StepResult r = run_step(gpu, folder, base, rslora, {std::nullopt, true, 64, DType::F32}, budget);
        SafetensorsFile ref(ref_dir() / "lora" / folder.toStdString() / "reference.safetensors");
        // 1e-4: loraParity's logits bound, fp32 noise (~2e-6 measured on the CPU) through a few layers.
        const double logit_err = test::relative_error(r.logits, ref.tensor("logits").as<float>());
        QVERIFY2(logit_err < 1e-4, qPrintable(QString::number(logit_err)));
        // Loss and gradient norm: the same 1e-4 relative parity bound (PRODUCT.md), as test_optimizer.
        const double ref_loss = ref.tensor("loss").as<float>()[0];
        QVERIFY2(std::fabs(r.loss - ref_loss) < 1e-4 * ref_loss, qPrintable(QString("%1 vs %2").arg(r.loss).arg(ref_loss)));
        const float ref_norm = ref.tensor("grad_norm").as<float>()[0];
        QVERIFY2(std::fabs(r.grad_norm - ref_norm) < 1e-4 * ref_norm,
                 qPrintable(QString("%1 vs %2").arg(r.grad_norm).arg(ref_norm)));
        const AdamWConfig cfg = step_config();
        const double ref_coef = std::min(1.0, cfg.max_grad_norm / (ref_norm + 1e-6));
        for (std::size_t k = 0; k < r.names.size(); ++k) {
            const auto want_grad = ref.tensor(peft_key("grad", r.names[k])).as<float>();
            const double err = test::relative_error(r.grads[k], want_grad);
            QVERIFY2(err < 1e-3, qPrintable(QString::fromStdString(r.names[k]) + " grad " + QString::number(err)));
            const auto before = ref.tensor(peft_key("before", r.names[k])).as<float>();
            const auto want = ref.tensor(peft_key("after", r.names[k])).as<float>();
            for (std::size_t i = 0; i < want.size(); ++i) {
                const double bound = test::adamw_first_step_bound(before[i], r.clip_coef * r.grads[k][i],
                                                                  ref_coef * want_grad[i], cfg.lr, cfg.eps);
                QVERIFY2(std::fabs(double(r.after[k][i]) - want[i]) <= bound,
                         qPrintable(QString("%1[%2] %3 vs %4").arg(QString::fromStdString(r.names[k])).arg(i)
                                        .arg(r.after[k][i]).arg(want[i])));
            }
        }
    }

    void matchesCpuTwin_data() {
        add_reference_rows();
        QTest::addColumn<bool>("nf4");
        QTest::addColumn<int>("dtype");
        for (auto [folder, base, rslora] : {std::tuple{"llama3-tiny", "llama3-tiny", false},
                                            std::tuple{"qwen2-tiny-rslora", "qwen2-tiny", true}})
            for (const bool nf4 : {false, true})
                for (const DType t : {DType::F32, DType::BF16, DType::F16})
                    QTest::addRow("%s, %s, %s", folder, nf4 ? "nf4-dq" : "dense", dtype_name(t).data())
                        << folder << base << rslora << nf4 << static_cast<int>(t);
    }

    // GPU and CPU run the same step in the same compute dtype; they differ only in summation
    // order (and, in 16 bits, in which sums round where). Bounds:
    // - fp32: the fp32 parity bounds above (both sides are within them of peft's step).
    // - bf16/fp16: each side is within its own 16-bit noise of the exact step; the CPU's noise is
    //   measured as its distance from the CPU fp32 step, and the GPU's is allowed as much, so by
    //   the triangle inequality |gpu − cpu| ≤ 2·|cpu − cpu_fp32| (plus the fp32 bound).
    // - every updated weight: tests/adamw_step_bound.h with each side's own clipped gradient.
    void matchesCpuTwin() {
        QFETCH(QString, folder);
        QFETCH(QString, base);
        QFETCH(bool, rslora);
        QFETCH(bool, nf4);
        QFETCH(int, dtype);
        const auto compute = static_cast<DType>(dtype);
        const std::optional<QuantType> quant = nf4 ? std::optional(QuantType::NF4) : std::nullopt;
        cuda::CudaBackend gpu(0);
        CpuBackend cpu, cpu_wide;
        const StepResult g = run_step(gpu, folder, base, rslora, {quant, true, 64, compute}, 0);
        const StepResult c = run_step(cpu, folder, base, rslora, {quant, true, 64, compute}, 0);
        const StepResult w = compute == DType::F32 ? c : run_step(cpu_wide, folder, base, rslora, {quant, true, 64, DType::F32}, 0);

        const double loss_noise = std::fabs(c.loss - w.loss);
        QVERIFY2(std::fabs(g.loss - c.loss) <= 2 * loss_noise + 1e-4 * std::fabs(c.loss),
                 qPrintable(QString("loss gpu %1 cpu %2 (16-bit noise %3)").arg(g.loss).arg(c.loss).arg(loss_noise)));
        double worst = 0;
        for (std::size_t k = 0; k < g.names.size(); ++k) {
            const double noise = norm_relative(c.grads[k], w.grads[k]);
            const double err = norm_relative(g.grads[k], c.grads[k]);
            worst = std::max(worst, err);
            QVERIFY2(err <= 2 * noise + 1e-3, qPrintable(QString("%1 grad: gpu vs cpu %2, cpu's 16-bit noise %3")
                                                             .arg(QString::fromStdString(g.names[k])).arg(err).arg(noise)));
        }
        qInfo("%s: worst LoRA gradient, GPU vs CPU twin: %.3g", qPrintable(QTest::currentDataTag()), worst);
        SafetensorsFile ref(ref_dir() / "lora" / folder.toStdString() / "reference.safetensors");
        const AdamWConfig cfg = step_config();
        for (std::size_t k = 0; k < g.names.size(); ++k) {
            const auto start = ref.tensor(peft_key("before", g.names[k])).as<float>();
            for (std::size_t i = 0; i < start.size(); ++i) {
                const double bound = test::adamw_first_step_bound(start[i], g.clip_coef * g.grads[k][i],
                                                                  c.clip_coef * c.grads[k][i], cfg.lr, cfg.eps);
                QVERIFY2(std::fabs(double(g.after[k][i]) - c.after[k][i]) <= bound,
                         qPrintable(QString("%1[%2] gpu %3 cpu %4, bound %5").arg(QString::fromStdString(g.names[k]))
                                        .arg(i).arg(g.after[k][i]).arg(c.after[k][i]).arg(bound)));
            }
        }
    }
};

QTEST_GUILESS_MAIN(TestCudaTrainStep)
#include "test_cuda_train_step.moc"
