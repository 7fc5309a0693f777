// The budget a run plans against (core/train/run_budget.h) on a stand-in GPU: a set size wins,
// else the device's free memory now, else none on the CPU; and "auto" checkpoint offload, in the
// estimate and in a real training run, turning on exactly when that free memory is below what
// the run needs without it. The stand-in is registered in this executable alone: the registry
// is process-wide.
#include <QtTest>
#include <fstream>

#include "core/backend/cpu/cpu_backend.h"
#include "core/model/model_layout.h"
#include "core/model/model_loader.h"
#include "core/train/memory_estimate.h"
#include "core/train/offload_choice.h"
#include "core/train/run_budget.h"
#include "core/train/trainer.h"
#include "core/util/resource_paths.h"
#include "fake_gpu.h"
#include "test_support.h"

using namespace qls;
using qls::test::ScratchDir;

namespace {

constexpr std::int64_t kTotal = std::int64_t{24} << 30;
std::int64_t g_free = std::int64_t{3} << 29;  // what the stand-in GPU says is free now

// The run's estimate options, as TrainingSession::load builds them for `c`.
EstimateOptions planned_options(const TrainConfig& c) {
    EstimateOptions o;
    o.base = c.base;
    o.lora = c.lora;
    o.micro_batch = c.micro_batch;
    o.seq_len = static_cast<std::int64_t>(c.data.max_seq_len);
    o.checkpointing = c.checkpointing;
    o.paging = c.optim.paging;
    return o;
}

}  // namespace

class TestRunBudget : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { test::register_fake_gpu([] { return g_free; }, kTotal); }
    void precedence();
    void autoOffloadFollowsFreeMemory();
    void trainerPlansAgainstFreeMemory();
};

void TestRunBudget::precedence() {
    g_free = std::int64_t{3} << 29;
    const RunBudget set = run_budget(std::int64_t{12} << 30, parse_device("cuda"));
    QCOMPARE(set.source, RunBudget::Source::Set);
    QCOMPARE(set.bytes, std::int64_t{12} << 30);
    QCOMPARE(set.reason, std::string("budget 12.00 GiB (set)"));
    // A set size is the CPU backend's simulated device.
    QCOMPARE(run_budget(48 << 20, parse_device("cpu")).reason, std::string("budget 48.0 MiB (set)"));

    for (const char* gpu : {"cuda", "cuda:0", "auto"}) {
        const RunBudget free = run_budget(0, parse_device(gpu));
        QCOMPARE(free.source, RunBudget::Source::DeviceFree);
        QCOMPARE(free.bytes, g_free);
        QCOMPARE(free.reason, std::string("1.50 GiB free of 24.00 GiB on Fake GPU (cuda:0)"));
    }
    g_free = std::int64_t{5} << 30;  // asked anew each time, not remembered
    QCOMPARE(run_budget(0, parse_device("cuda")).bytes, g_free);

    const RunBudget none = run_budget(0, parse_device("cpu"));
    QCOMPARE(none.source, RunBudget::Source::None);
    QCOMPARE(none.bytes, std::int64_t{0});
    QCOMPARE(none.reason, std::string("no device budget: the CPU, and no size set"));
    QLS_VERIFY_THROWS_WITH(run_budget(0, parse_device("cuda:1")), ConfigError, "only 1 CUDA device (cuda:0)");
    QCOMPARE(std::string(run_budget_source_name(RunBudget::Source::DeviceFree)), std::string("device_free"));
}

// The free memory alone decides: one byte under the no-offload estimate turns offload on, the
// estimate itself keeps it off; a set size still wins over the device.
void TestRunBudget::autoOffloadFollowsFreeMemory() {
    const ModelLayout layout = open_model_layout(qls::test::ref_dir() / "models" / "llama3-tiny");
    const BackendChoice device = make_backend(parse_device("cuda"));
    QCOMPARE(device.kind, std::string("cuda"));
    EstimateOptions o;
    o.seq_len = 256;
    const std::int64_t without = estimate_memory(layout, o, *device.backend).device_total;
    auto offloads = [&](std::int64_t set_bytes) {
        EstimateOptions x = o;
        x.device_bytes = run_budget(set_bytes, parse_device("cuda")).bytes;
        return choose_offload("auto", layout, x, *device.backend).offload;
    };
    g_free = without - 1;
    QVERIFY(offloads(0));
    QVERIFY(!offloads(without));
    g_free = without;
    QVERIFY(!offloads(0));
    QVERIFY(offloads(without - 1));
}

// A run on the device with no size set: offload turns on from the free memory, and the log says
// what the run planned against.
void TestRunBudget::trainerPlansAgainstFreeMemory() {
    ScratchDir d;
    TrainConfig c;
    c.model = demo_model_dir();
    {
        std::ifstream in(demo_model_dir().parent_path() / "data" / "pirate_fortunes_train.jsonl");
        std::ofstream out(d.path() / "data.jsonl");
        std::string line;
        for (int i = 0; i < 24 && std::getline(in, line); ++i) out << line << '\n';
    }
    c.data.path = d.path() / "data.jsonl";
    c.data.valid_fraction = 0.2;
    c.data.max_seq_len = 64;
    c.micro_batch = 2;
    c.max_steps = 1;
    c.eval_every = 0;
    c.save_every = 0;
    c.lora.rank = 4;
    c.device = "cuda";
    c.offload_checkpoints = "auto";
    EstimateOptions o = planned_options(c);
    const Model m = load_model(c.model);
    const std::int64_t without = estimate_memory(m, o, CpuBackend()).device_total;
    o.offload_checkpoints = true;
    QVERIFY(estimate_memory(m, o, CpuBackend()).device_total < without);  // offload has layers to move

    std::vector<TrainerState> ends;
    auto run = [&](const std::string& dir, std::int64_t free) {
        g_free = free;
        TrainConfig x = c;
        x.run_dir = d.path() / dir;
        Trainer t(x);
        t.start();
        t.wait();
        ends.push_back(t.state());
        std::vector<TrainEvent> all;
        t.events().drain(all);
        std::vector<std::string> lines;
        for (const TrainEvent& e : all)
            if (const auto* l = std::get_if<LogLine>(&e)) lines.push_back(l->text);
        return lines;
    };
    auto said = [](const std::vector<std::string>& lines, const std::string& start) {
        return std::any_of(lines.begin(), lines.end(),
                           [&](const std::string& l) { return l.starts_with(start); });
    };
    const std::vector<std::string> tight = run("tight", without - 1);
    QVERIFY(said(tight, str_cat("planning against ", format_bytes(without - 1),
                                " free of 24.00 GiB on Fake GPU (cuda:0)")));
    QVERIFY(said(tight, "offloading checkpoints to host memory"));
    const std::vector<std::string> roomy = run("roomy", without);
    QVERIFY(said(roomy, "planning against "));
    QVERIFY(!said(roomy, "offloading checkpoints"));
    // Neither run is held to the free memory: only a set size is enforced on the CPU backend.
    QCOMPARE(ends, std::vector<TrainerState>(2, TrainerState::Finished));
}

QTEST_GUILESS_MAIN(TestRunBudget)
#include "test_run_budget.moc"
