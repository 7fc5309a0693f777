// The CUDA backend's memory planning. Without a device: the registry gives its planner, whose
// op scratch is cuBLAS's workspace plus the linear schedule's slots as the schedule computes
// them, and which never plans the CPU's fp32 copies. On a GPU (skipped without one): reserving
// it takes exactly what it says, and a whole training step at that shape never grows it, so the
// estimate built on it is the measured peak, category by category.
#include <QtTest>

#include "core/backend/backend_registry.h"
#include "core/backend/cpu/cpu_backend.h"
#include "core/model/llama_model.h"
#include "core/model/model_loader.h"
#include "core/train/adamw_optimizer.h"
#include "core/train/memory_estimate.h"
#include "kernels/cuda_backend.h"
#include "kernels/device_info.h"
#include "kernels/math/linear_schedule.h"
#include "tests/test_support.h"

using namespace qls;
using test::ref_dir;

namespace {

// llama3-tiny's step at micro-batch 2 × 96, rank 8 with dropout, bf16, MLP in chunks of 64 rows.
StepShapes tiny_step(const LlamaConfig& c) {
    LoraConfig lora;
    lora.rank = 8;
    lora.dropout = 0.1;
    const ModelRunOptions run{2, 96, true, 0, DType::BF16, false, 64};
    return LlamaModel::step_shapes(c, run, &lora, false, DType::BF16);
}

}  // namespace

class TestCudaMemoryPlanner : public QObject {
    Q_OBJECT
private slots:
    void plannerNeedsNoDevice() {
        cuda::register_cuda_backend();
        const std::unique_ptr<MemoryPlanner> planner = memory_planner("cuda");
        QVERIFY(planner);
        QVERIFY(!memory_planner("tpu"));
        const LlamaConfig c = load_model(ref_dir() / "models" / "llama3-tiny").config;
        const StepShapes step = tiny_step(c);
        const kmath::StepLinearScratch linear = kmath::step_linear_scratch(step);
        const kmath::LinearBufferFloats& f = linear.floats;
        QCOMPARE(planner->op_scratch_bytes(step),
                 std::int64_t(cuda::CudaBackend::kBlasWorkspaceBytes) +
                     4 * (f.sum + f.acc + f.input + f.mid + f.mid2) + linear.weight_bytes);
        // The fp32 sum slot holds the widest call's output: gate|up counts with its chunk's 64
        // rows (not N = 192), the LM head with its logits chunk.
        const std::int64_t n = 192, h = c.hidden_size, qkv = (c.num_heads + 2 * c.num_kv_heads) * c.head_dim;
        QCOMPARE(f.sum, std::max({n * qkv, n * h, std::int64_t(64) * 2 * c.intermediate_size, std::int64_t(64) * h,
                                  step.logits_rows * c.vocab_size}));
        // The flash-attention backward's Δ: one float per query head and token.
        QCOMPARE(planner->attention_workspace_bytes({192, 96, c.num_heads, c.num_kv_heads, c.head_dim}),
                 std::size_t(c.num_heads) * 192 * sizeof(float));
        // The CPU twin's fp32 copies of a 16-bit step are the CPU's own: a CUDA estimate of the
        // same step holds less beside cuBLAS's fixed workspace.
        CpuBackend cpu;
        QVERIFY(planner->op_scratch_bytes(step) - std::int64_t(cuda::CudaBackend::kBlasWorkspaceBytes) <
                cpu.op_scratch_bytes(step));
    }

    void reservedScratchIsThePeak() {
        if (!cuda::device_available()) QSKIP("no CUDA device");
        const Model m = load_model(ref_dir() / "models" / "llama3-tiny");
        cuda::CudaBackend backend(0);
        EstimateOptions o;
        o.base.compute = DType::BF16;
        o.lora.rank = 8;
        o.lora.dropout = 0.1;
        o.micro_batch = 2;
        o.seq_len = 96;
        o.mlp_chunk = 64;
        const MemoryEstimate e = estimate_memory(m, o, backend);
        DeviceBaseModel base(backend, m, o.base);
        LoraParameters lora(backend, m.config, o.lora);
        LlamaModel llama(backend, base, &lora, {2, 96, true, 0, DType::BF16, false, 64});
        AdamWOptimizer optimizer(backend, lora.params(), AdamWConfig{}, o.paging);
        const std::int64_t before = backend.memory().snapshot().current_of(Usage::Workspace);
        Batch b;
        b.batch = 2;
        b.seq_len = 96;
        for (std::int64_t i = 0; i < 192; ++i) {
            b.tokens.push_back(std::int32_t((i * 7 + 3) % m.config.vocab_size));
            b.targets.push_back(std::int32_t((i * 11 + 1) % m.config.vocab_size));
            b.positions.push_back(std::int32_t(i % 96));
            b.segments.push_back(std::int32_t(i / 96));
        }
        llama.forward_backward(b, 1e-3f, 7);
        QVERIFY(optimizer.step(1e-4).applied);
        backend.synchronize();
        const MemorySnapshot s = backend.memory().snapshot();
        // clip_grad_norm's partial sums and table grow on the first step (cuda_scratch_plan.cpp):
        // a few bytes per LoRA tensor and per 64 Ki gradient values, nothing else.
        const std::int64_t clip_bound = 64 * 1024;
        QVERIFY2(s.current_of(Usage::Workspace) - before <= clip_bound,
                 qPrintable(QString("workspace grew by %1 bytes").arg(s.current_of(Usage::Workspace) - before)));
        for (Usage u : kAllUsages) {
            if (u == Usage::Workspace) continue;
            QCOMPARE(s.peak_of(u), e.of(u));
        }
        QVERIFY(s.peak_of(Usage::Workspace) >= e.of(Usage::Workspace));
        QVERIFY(s.peak_of(Usage::Workspace) - e.of(Usage::Workspace) <= clip_bound);
    }
};

QTEST_GUILESS_MAIN(TestCudaMemoryPlanner)
#include "test_cuda_memory_planner.moc"
