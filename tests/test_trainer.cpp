// The trainer on the demo model: determinism, exact resume, control from another thread, the
// event channel under a slow consumer, accumulation = bigger batch, and clean failures
// (NaN, out of memory, unusable data).
#include <QtTest>

#include <fstream>
#include <thread>

#include "core/backend/cpu/cpu_backend.h"
#include "core/model/llama_model.h"
#include "core/model/model_loader.h"
#include "core/train/adamw_optimizer.h"
#include "core/train/checkpoint.h"
#include "core/train/memory_estimate.h"
#include "core/train/run_folder.h"
#include "core/train/run_plan.h"
#include "core/train/trainer.h"
#include "core/util/resource_paths.h"
#include "model_test_support.h"
#include "test_support.h"

using namespace qls;
using qls::test::ScratchDir;

namespace {

// The first `lines` records of the demo dataset.
std::filesystem::path demo_subset(const std::filesystem::path& dir, int lines) {
    std::ifstream in(demo_model_dir().parent_path() / "data" / "pirate_fortunes_train.jsonl");
    std::ofstream out(dir / "data.jsonl");
    std::string line;
    for (int i = 0; i < lines && std::getline(in, line); ++i) out << line << '\n';
    return dir / "data.jsonl";
}

TrainConfig small_config(const std::filesystem::path& dir, int lines = 48) {
    TrainConfig c;
    c.model = demo_model_dir();
    c.run_dir = dir / "run";
    c.data.path = demo_subset(dir, lines);
    c.data.valid_fraction = 0.2;
    c.data.max_seq_len = 64;
    c.micro_batch = 2;
    c.grad_accum = 2;
    c.max_steps = 6;
    c.eval_every = 3;
    c.save_every = 2;
    c.lora.rank = 4;
    c.lora.dropout = 0.1;
    c.optim.adamw.lr = 1e-3;
    return c;
}

struct Outcome {
    std::vector<double> losses;
    std::vector<EvalResult> evals;
    std::vector<TrainEvent> all;
    TrainerState state = TrainerState::Idle;
    std::string error;
};

Outcome run_to_end(Trainer& t) {
    Outcome o;
    t.start();
    t.wait();
    t.events().drain(o.all);
    for (const TrainEvent& e : o.all) {
        if (auto* s = std::get_if<StepMetrics>(&e)) o.losses.push_back(s->loss);
        if (auto* r = std::get_if<EvalResult>(&e)) o.evals.push_back(*r);
        if (auto* err = std::get_if<ErrorInfo>(&e)) o.error = err->what;
    }
    o.state = t.state();
    return o;
}

// Starts the run and stops it once step `step` is reported: the stop saves that step (or a
// later one) and the run exits.
void stop_after_step(Trainer& t, std::int64_t step) {
    t.start();
    std::vector<TrainEvent> seen;
    for (bool stopped = false; !stopped;) {
        t.events().wait_and_drain(seen, std::chrono::milliseconds(50));
        for (const TrainEvent& e : seen)
            if (auto* s = std::get_if<StepMetrics>(&e); s && s->step == step && !stopped) {
                t.stop();
                stopped = true;
            }
        if (!t.running() && t.state() != TrainerState::Idle) break;
    }
    t.wait();
}

// Resumes the run in run_dir from its latest checkpoint (run.json alone says how) and checks that
// the rest of it has the losses of the uninterrupted run `full`.
void resume_continues(const std::filesystem::path& run_dir, const Outcome& full) {
    const auto saved = list_checkpoints(run_dir);
    QVERIFY(!saved.empty());
    TrainConfig again;
    again.run_dir = run_dir;
    Trainer resumed(again, true);
    const Outcome rest = run_to_end(resumed);
    QCOMPARE(rest.state, TrainerState::Finished);
    const auto done = static_cast<std::size_t>(saved.back());
    QCOMPARE(rest.losses.size(), full.losses.size() - done);
    for (std::size_t i = 0; i < rest.losses.size(); ++i) QCOMPARE(rest.losses[i], full.losses[done + i]);
}

}  // namespace

class TestTrainer : public QObject {
    Q_OBJECT
private slots:
    void deterministic();
    void loadProgressAndTheDevicesOwnMemoryFigure();
    void resumeEqualsUninterrupted();
    void controlFromAnotherThread();
    void slowConsumerNeverBlocks();
    void accumulationEqualsBiggerBatch();
    void oneHostReadPerStep_data();
    void oneHostReadPerStep();
    void trainerStepsReadOnce();
    void nanStopsCleanly();
    void divergedResumeKeepsTheGoodCheckpoint();
    void resumeSurvivesDamageAndLeftovers();
    void oneProcessPerRun();
    void runStoresAbsolutePaths();
    void fp16SkipsOverflowingSteps();
    void fp16ResumeKeepsTheScale();
    void outOfMemoryIsReported();
    void autoOffloadFitsTheBudget();
    void unusableDataIsRefused();
    void configRoundTrip();
    void configProblemsAllAtOnce();
    void degenerateRunsWarn();
};

void TestTrainer::deterministic() {
    ScratchDir a, b;
    Trainer ta(small_config(a.path()));
    Trainer tb(small_config(b.path()));
    const Outcome oa = run_to_end(ta), ob = run_to_end(tb);
    QCOMPARE(oa.state, TrainerState::Finished);
    QCOMPARE(oa.losses.size(), std::size_t(6));
    QCOMPARE(oa.losses, ob.losses);
    QVERIFY(std::filesystem::exists(a.path() / "run" / "adapter" / "adapter_model.safetensors"));
    QVERIFY(std::filesystem::exists(a.path() / "run" / "run.json"));
    QCOMPARE(list_checkpoints(a.path() / "run"), (std::vector<std::int64_t>{4, 6}));  // keep 2
}

// Loading the base reports every layer, in order, before the first step; the run's event log
// keeps none of it. Memory samples carry what the device itself counts as taken (nvidia-smi's
// figure on a GPU): on the CPU the resident set, which holds at least the tensors the accountant
// counts; the run's log keeps it.
void TestTrainer::loadProgressAndTheDevicesOwnMemoryFigure() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());
    c.max_steps = 2;
    Trainer t(c);
    const Outcome o = run_to_end(t);
    QCOMPARE(o.state, TrainerState::Finished);
    const std::int64_t layers = load_model(c.model).config.num_layers;
    std::vector<std::int64_t> done, expected;
    bool stepped = false;
    for (const TrainEvent& e : o.all) {
        stepped = stepped || std::holds_alternative<StepMetrics>(e);
        if (const auto* p = std::get_if<LoadProgress>(&e)) {
            QVERIFY(!stepped);
            QCOMPARE(p->layers, layers);
            done.push_back(p->layers_done);
        }
    }
    for (std::int64_t l = 0; l <= layers; ++l) expected.push_back(l);
    QCOMPARE(done, expected);

    bool sampled = false;
    for (const TrainEvent& e : o.all)
        if (const auto* m = std::get_if<MemorySample>(&e)) {
            sampled = true;
            QVERIFY2(m->device_in_use >= m->memory.device_current,
                     qPrintable(QString::number(m->device_in_use)));
        }
    QVERIFY(sampled);

    bool logged = false;
    std::ifstream log(c.run_dir / "events.jsonl");
    for (std::string line; std::getline(log, line);) {
        const nlohmann::json j = nlohmann::json::parse(line);
        QVERIFY(j.value("type", "") != "load");
        if (j.value("type", "") == "memory") logged = logged || j.value("device_in_use", std::int64_t{0}) > 0;
    }
    QVERIFY(logged);
}

void TestTrainer::resumeEqualsUninterrupted() {
    ScratchDir a, b;
    Trainer straight(small_config(a.path()));
    const Outcome full = run_to_end(straight);
    TrainConfig first = small_config(b.path());
    first.max_steps = 6;
    {
        Trainer t(first);
        stop_after_step(t, 3);
        QCOMPARE(t.state(), TrainerState::Stopped);
    }
    resume_continues(b.path() / "run", full);
    if (QTest::currentTestFailed()) return;
    // metrics.jsonl reads as one run: one line per step.
    std::ifstream metrics(b.path() / "run" / "metrics.jsonl");
    int steps = 0;
    for (std::string line; std::getline(metrics, line);) steps += line.find("\"type\":\"step\"") != std::string::npos;
    QCOMPARE(steps, 6);
}

void TestTrainer::controlFromAnotherThread() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());
    c.max_steps = 200;
    c.save_every = 0;
    Trainer t(c);
    t.start();
    std::vector<TrainEvent> seen;
    auto wait_for = [&](auto pred) {
        for (int i = 0; i < 600; ++i) {
            t.events().wait_and_drain(seen, std::chrono::milliseconds(50));
            if (pred()) return true;
        }
        return false;
    };
    auto has_step = [&] {
        return std::any_of(seen.begin(), seen.end(), [](auto& e) { return std::holds_alternative<StepMetrics>(e); });
    };
    QVERIFY(wait_for(has_step));
    std::thread controller([&] { t.pause(); });
    controller.join();
    QVERIFY(wait_for([&] { return t.state() == TrainerState::Paused; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    seen.clear();
    t.events().drain(seen);
    QVERIFY(!has_step());  // paused: no step in 300 ms
    // Save now while paused saves at once and stays paused.
    std::thread([&] { t.save_now(); }).join();
    QVERIFY(wait_for([&] { return !list_checkpoints(c.run_dir).empty(); }));
    QVERIFY(wait_for([&] { return t.state() == TrainerState::Paused; }));
    seen.clear();
    t.events().drain(seen);
    QVERIFY(!has_step());
    std::thread([&] { t.resume(); }).join();
    QVERIFY(wait_for(has_step));
    std::thread([&] { t.cancel(); }).join();
    t.wait();
    QCOMPARE(t.state(), TrainerState::Cancelled);
    QVERIFY(!std::filesystem::exists(c.run_dir / "adapter"));  // cancel exports nothing
}

// A consumer that never drains while the trainer runs: the trainer still finishes, memory
// samples coalesce, no step metric is lost.
void TestTrainer::slowConsumerNeverBlocks() {
    EventChannel channel(8);
    for (int i = 0; i < 1000; ++i) {
        channel.push(MemorySample{double(i), i, {}, 0});
        channel.push(PagingEvent{double(i), i, PagingEvent::Direction::ToHost, 4096, 1, "evict"});
        if (i % 10 == 0) channel.push(StepMetrics{.step = i});
    }
    std::vector<TrainEvent> out;
    channel.drain(out);
    const auto steps = std::count_if(out.begin(), out.end(), [](auto& e) { return std::holds_alternative<StepMetrics>(e); });
    const auto memory = std::count_if(out.begin(), out.end(), [](auto& e) { return std::holds_alternative<MemorySample>(e); });
    QCOMPARE(steps, 100);
    QCOMPARE(memory, 1);
    QCOMPARE(std::get<MemorySample>(out.back()).step, 999);
    QVERIFY(channel.dropped() > 0);

    ScratchDir d;
    Trainer t(small_config(d.path()));
    t.start();
    t.wait();  // nobody drained: must not deadlock
    QCOMPARE(t.state(), TrainerState::Finished);
}

void TestTrainer::oneHostReadPerStep_data() {
    QTest::addColumn<int>("layers");
    QTest::newRow("1 layer") << 1;
    QTest::newRow("4 layers") << 4;
}

// A whole optimizer step (2 micro-batches, LoRA on every module, paged optimizer state that
// moves pages every step) reads from the device once, however many layers and tensors: the
// loss, the global norm, clipping and the non-finite check stay on the device, and page
// moves are asynchronous. Backend counts every host synchronization.
void TestTrainer::oneHostReadPerStep() {
    QFETCH(int, layers);
    CpuBackend backend;
    test::TinyLora tiny(backend, layers, 5);
    LlamaModel llama(backend, tiny.base, &tiny.lora, {2, 12, true, 0});
    const PagingConfig paging{1024, 2048};  // 2 of many pages resident
    AdamWOptimizer optimizer(backend, tiny.lora.params(), AdamWConfig{}, paging);
    const Batch b = test::pattern_batch(2, 12, 37);
    for (int step = 0; step < 3; ++step) {
        const std::int64_t before = backend.host_syncs();
        tiny.lora.zero_grads();
        llama.reset_loss();
        llama.forward_backward(b, 0.01f, 1);
        llama.forward_backward(b, 0.01f, 2);
        const OptimizerStepResult r = optimizer.step(1e-3, llama.loss_sum());
        QVERIFY(r.applied && r.grad_norm > 0 && r.loss_sum > 0);
        QCOMPARE(backend.host_syncs() - before, std::int64_t{1});
        QVERIFY(!optimizer.drain_paging_events().empty());
    }
}

// The trainer reports each step's host synchronizations: one, also with paging and accumulation.
void TestTrainer::trainerStepsReadOnce() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());
    c.optim.paging = {4096, 8192};
    const Outcome o = [&] {
        Trainer t(c);
        return run_to_end(t);
    }();
    QCOMPARE(o.state, TrainerState::Finished);
    std::size_t steps = 0, paging = 0;
    for (const TrainEvent& e : o.all) {
        if (const auto* s = std::get_if<StepMetrics>(&e)) {
            ++steps;
            QCOMPARE(s->host_syncs, std::int64_t{1});
        }
        paging += std::holds_alternative<PagingEvent>(e);
    }
    QCOMPARE(steps, std::size_t(6));
    QVERIFY(paging > 0);
    // The device the registry gave the run, in the event stream and in run.json.
    const auto device = std::find_if(o.all.begin(), o.all.end(),
                                     [](const TrainEvent& e) { return std::holds_alternative<RunDevice>(e); });
    QVERIFY(device != o.all.end());
    const RunDevice& chosen = std::get<RunDevice>(*device);
    QCOMPARE(chosen.backend, std::string("cpu"));
    QCOMPARE(chosen.reason, std::string("auto chose the CPU: this build has no CUDA backend"));
    const nlohmann::json run = RunFolder::read_run_json(c.run_dir);
    QCOMPARE(run.at("device").at("device").get<std::string>(), chosen.device);
    QCOMPARE(run.at("device").at("compute_dtype").get<std::string>(), std::string("fp32"));
    QCOMPARE(run.at("config").at("device").get<std::string>(), std::string("auto"));
}

// Two micro-batches of B with grad_scale 1/(all trained tokens) give the gradients of one
// batch of 2B.
void TestTrainer::accumulationEqualsBiggerBatch() {
    const Model m = load_model(demo_model_dir());
    CpuBackend backend;
    DeviceBaseModel base(backend, m, {QuantType::NF4, true, 64});
    LoraConfig lc;
    lc.rank = 4;
    lc.dropout = 0;
    LoraParameters lora(backend, m.config, lc);
    for (const auto& p : lora.params())
        if (p.name.ends_with("lora_B")) {
            std::vector<float> v(static_cast<std::size_t>(p.value.numel()));
            for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.02f * std::cos(float(i));
            backend.copy_from_host(p.value, std::as_bytes(std::span(v)));
        }
    auto make = [&](int rows, int first) {
        Batch b;
        b.batch = rows;
        b.seq_len = 16;
        for (int r = 0; r < rows; ++r)
            for (int t = 0; t < 16; ++t) {
                b.tokens.push_back((first + r) * 31 + t * 7 + 5);
                b.targets.push_back(t % 3 == 0 ? kIgnoreIndex : ((first + r) * 13 + t * 17) % 3000);
                b.positions.push_back(t);
                b.segments.push_back(0);
            }
        return b;
    };
    const Batch big = make(4, 0), a = make(2, 0), b = make(2, 2);
    auto grads = [&] {
        std::vector<float> all;
        for (const auto& p : lora.params()) {
            std::vector<float> g(static_cast<std::size_t>(p.grad.numel()));
            backend.copy_to_host(p.grad, std::as_writable_bytes(std::span(g)));
            all.insert(all.end(), g.begin(), g.end());
        }
        return all;
    };
    LlamaModel model(backend, base, &lora, {4, 16, true, 0});
    lora.zero_grads();
    model.reset_loss();
    model.forward_backward(big, 1.0f / float(big.trained_tokens()), 1);
    const double big_loss = model.read_loss().loss;
    const std::vector<float> g_big = grads();
    lora.zero_grads();
    model.reset_loss();
    const float scale = 1.0f / float(a.trained_tokens() + b.trained_tokens());
    model.forward_backward(a, scale, 1);
    model.forward_backward(b, scale, 1);
    const double acc_loss = model.read_loss().loss;
    const std::vector<float> g_acc = grads();
    QVERIFY(std::abs(big_loss - acc_loss) < 1e-4 * big_loss);
    double diff = 0, scale_ref = 0;
    for (std::size_t i = 0; i < g_big.size(); ++i) {
        diff = std::max(diff, double(std::abs(g_big[i] - g_acc[i])));
        scale_ref = std::max(scale_ref, double(std::abs(g_big[i])));
    }
    QVERIFY2(diff < 1e-5 * scale_ref, qPrintable(QString::number(diff / scale_ref)));
}

void TestTrainer::nanStopsCleanly() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());
    c.optim.adamw.lr = 1e30;  // the first update blows the adapter up
    c.optim.adamw.max_grad_norm = 0;
    c.optim.schedule.warmup_ratio = 0;
    c.max_steps = 10;
    Trainer t(c);
    const Outcome o = run_to_end(t);
    QCOMPARE(o.state, TrainerState::Failed);
    // Nothing of the diverged state is saved, marked best or exported (the one finite step
    // before it left weights of 1e30 that give a NaN loss).
    QVERIFY2(o.error.find("NaN/Inf") != std::string::npos, o.error.c_str());
    QVERIFY(o.losses.size() <= 1);
    QVERIFY(list_checkpoints(c.run_dir).empty());
    QVERIFY(!std::filesystem::exists(c.run_dir / "adapter"));
}

void TestTrainer::divergedResumeKeepsTheGoodCheckpoint() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());
    c.max_steps = 2;
    Trainer first(c);
    QCOMPARE(run_to_end(first).state, TrainerState::Finished);
    TrainConfig resume;
    resume.run_dir = c.run_dir;
    Trainer bad(resume, true, [](TrainConfig& r) {
        r.max_steps = 4;
        r.optim.adamw.lr = 1e30;
        r.optim.adamw.max_grad_norm = 0;
    });
    QCOMPARE(run_to_end(bad).state, TrainerState::Failed);
    QCOMPARE(list_checkpoints(c.run_dir), (std::vector<std::int64_t>{2}));
    for (const auto& [name, p] : load_checkpoint(checkpoint_dir(c.run_dir, 2)).adapter.modules)
        for (float x : p.b) QVERIFY(std::isfinite(x));
    // The change is refused by name where it would alter what the checkpoint continues, and
    // recorded where it is allowed.
    QVERIFY_THROWS_EXCEPTION(ConfigError, Trainer(resume, true, [](TrainConfig& r) { r.micro_batch = 3; }));
    Trainer fixed(resume, true, [](TrainConfig& r) { r.optim.adamw.lr = 1e-3; });
    const Outcome o = run_to_end(fixed);
    QCOMPARE(o.state, TrainerState::Finished);
    QCOMPARE(o.losses.size(), std::size_t(2));
    const nlohmann::json run = RunFolder::read_run_json(c.run_dir);
    QCOMPARE(run["resumes"].size(), std::size_t(2));
    QCOMPARE(run["resumes"][1]["step"].get<int>(), 2);
    QCOMPARE(run["resumes"][1]["changes"]["optim.learning_rate"]["to"].get<double>(), 1e-3);
    QCOMPARE(run["config"]["optim"]["learning_rate"].get<double>(), 1e-3);
}

void TestTrainer::resumeSurvivesDamageAndLeftovers() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());  // checkpoints at steps 4 and 6 remain
    Trainer t(c);
    QCOMPARE(run_to_end(t).state, TrainerState::Finished);
    // One flipped bit in the newest checkpoint's adapter weights.
    const auto weights = checkpoint_dir(c.run_dir, 6) / "adapter" / "adapter_model.safetensors";
    {
        std::fstream f(weights, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(-5, std::ios::end);
        const char byte = static_cast<char>(f.get());
        f.seekp(-5, std::ios::end);
        f.put(static_cast<char>(byte ^ 0x10));
    }
    QVERIFY_THROWS_EXCEPTION(FormatError, load_checkpoint(checkpoint_dir(c.run_dir, 6)));
    // What kill -9 leaves behind mid-save.
    std::filesystem::create_directories(c.run_dir / "checkpoints" / ".step-8.tmp-99999-0" / "adapter");
    std::filesystem::create_directories(c.run_dir / ".adapter.tmp-99999-1");
    // And the run started with another thread count.
    nlohmann::json run = RunFolder::read_run_json(c.run_dir);
    run["device"]["threads"] = 99;
    std::ofstream(c.run_dir / "run.json") << run.dump(2);

    TrainConfig again;
    again.run_dir = c.run_dir;
    Trainer resumed(again, true, [](TrainConfig& r) { r.max_steps = 7; });
    const Outcome o = run_to_end(resumed);
    QCOMPARE(o.state, TrainerState::Finished);
    QCOMPARE(o.losses.size(), std::size_t(3));  // steps 5 to 7, from step-4
    std::string log;
    for (const TrainEvent& e : o.all)
        if (auto* l = std::get_if<LogLine>(&e)) log += l->text + "\n";
    QVERIFY2(log.find("skipping a damaged checkpoint") != std::string::npos, log.c_str());
    QVERIFY2(log.find("resumed from checkpoint step-4") != std::string::npos, log.c_str());
    QVERIFY2(log.find("removed 2 unfinished save(s)") != std::string::npos, log.c_str());
    QVERIFY2(log.find("started with 99 threads") != std::string::npos, log.c_str());
    QVERIFY(!std::filesystem::exists(c.run_dir / "checkpoints" / ".step-8.tmp-99999-0"));
    QVERIFY(!std::filesystem::exists(c.run_dir / ".adapter.tmp-99999-1"));
}

void TestTrainer::oneProcessPerRun() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());
    c.max_steps = 1000;
    Trainer first(c);
    first.start();
    std::vector<TrainEvent> seen;
    while (first.state() == TrainerState::Idle || first.state() == TrainerState::Loading)
        first.events().wait_and_drain(seen, std::chrono::milliseconds(20));
    QVERIFY(first.running());
    TrainConfig again;
    again.run_dir = c.run_dir;
    Trainer second(again, true);
    const Outcome o = run_to_end(second);
    QCOMPARE(o.state, TrainerState::Failed);
    QVERIFY2(o.error.find("is in use by another process (pid ") != std::string::npos, o.error.c_str());
    first.cancel();
    first.wait();
}

void TestTrainer::runStoresAbsolutePaths() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());
    c.max_steps = 1;
    c.model = std::filesystem::relative(c.model);
    c.data.path = std::filesystem::relative(c.data.path);
    QVERIFY(c.model.is_relative());
    Trainer t(c);
    QCOMPARE(run_to_end(t).state, TrainerState::Finished);
    const TrainConfig stored = Trainer::config_of_run(c.run_dir);
    QVERIFY(stored.model.is_absolute() && stored.data.path.is_absolute());
    QVERIFY(std::filesystem::equivalent(stored.model, demo_model_dir()));
}

void TestTrainer::outOfMemoryIsReported() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());
    c.device_limit_bytes = 4 << 20;  // the demo base alone needs more in fp32 activations
    c.base.quant.reset();
    Trainer t(c);
    const Outcome o = run_to_end(t);
    QCOMPARE(o.state, TrainerState::Failed);
    QVERIFY2(o.error.find("out of device memory") != std::string::npos, o.error.c_str());
    bool advice = false;
    for (const TrainEvent& e : o.all)
        if (auto* err = std::get_if<ErrorInfo>(&e)) advice = err->advice.find("micro-batch") != std::string::npos;
    QVERIFY(advice);
}

// A budget the run fits only with its checkpoints offloaded: "off" runs out of memory, "auto"
// turns offload on (the log says why), its moves reach events.jsonl with their layer, a step
// still reads the device once, and the losses are those of the run with no budget at all.
void TestTrainer::autoOffloadFitsTheBudget() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());
    c.max_steps = 2;
    c.eval_every = 0;
    c.save_every = 0;
    EstimateOptions o;
    o.base = c.base;
    o.lora = c.lora;
    o.micro_batch = c.micro_batch;
    o.seq_len = static_cast<std::int64_t>(c.data.max_seq_len);
    o.paging = c.optim.paging;
    const Model m = load_model(c.model);
    const std::int64_t without = estimate_memory(m, o, CpuBackend()).device_total;
    o.offload_checkpoints = true;
    const std::int64_t with = estimate_memory(m, o, CpuBackend()).device_total;
    QVERIFY(with < without);
    auto run = [&](const std::string& dir, const std::string& mode, std::int64_t limit) {
        TrainConfig x = c;
        x.run_dir = d.path() / dir;
        x.offload_checkpoints = mode;
        x.device_limit_bytes = limit;
        Trainer t(x);
        return run_to_end(t);
    };
    const Outcome free = run("free", "off", 0);
    const Outcome off = run("off", "off", (with + without) / 2);
    QCOMPARE(off.state, TrainerState::Failed);
    QVERIFY2(off.error.find("out of device memory") != std::string::npos, off.error.c_str());
    const Outcome fitted = run("auto", "auto", (with + without) / 2);
    QCOMPARE(fitted.state, TrainerState::Finished);
    QCOMPARE(fitted.losses, free.losses);
    std::size_t moves = 0;
    bool said = false;
    for (const TrainEvent& e : fitted.all) {
        if (const auto* s = std::get_if<StepMetrics>(&e)) QCOMPARE(s->host_syncs, std::int64_t{1});
        if (const auto* p = std::get_if<PagingEvent>(&e)) moves += p->layer >= 0;
        if (const auto* l = std::get_if<LogLine>(&e)) said |= l->text.starts_with("offloading checkpoints");
    }
    QVERIFY(said);
    // 6 layers, 3 slots: inputs 0..3 go out and come back in each of 2 micro-batches of 2 steps.
    QCOMPARE(moves, std::size_t(4 * 2 * 2 * 2));
    std::ifstream events(d.path() / "auto" / "events.jsonl");
    std::size_t logged = 0;
    for (std::string line; std::getline(events, line);) {
        const nlohmann::json j = nlohmann::json::parse(line);
        logged += j.at("type") == "paging" && j.at("layer").get<std::int64_t>() >= 0;
    }
    QCOMPARE(logged, moves);
}

void TestTrainer::unusableDataIsRefused() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());
    std::ofstream(d.path() / "bad.jsonl") << "{\"messages\": 3}\nnot json\n{\"text\": \"\"}\n";
    c.data.path = d.path() / "bad.jsonl";
    Trainer t(c);
    const Outcome o = run_to_end(t);
    QCOMPARE(o.state, TrainerState::Failed);
    QVERIFY2(o.error.find("bad.jsonl") != std::string::npos, o.error.c_str());
    QVERIFY(!std::filesystem::exists(c.run_dir / "checkpoints"));
}

// fp16 with a loss scale far too big: every scaled loss gradient overflows fp16 (65504) when it
// is stored, so steps are skipped on the device and the scale halves until the gradients fit;
// then training goes on (the device-side no-op itself: the adamw_step rows of test_backend_ops).
void TestTrainer::fp16SkipsOverflowingSteps() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());
    c.compute_dtype = "fp16";
    c.initial_loss_scale = 0x1p40;
    c.max_steps = 40;
    c.eval_every = 0;
    c.save_every = 0;
    Trainer t(c);
    const Outcome o = run_to_end(t);
    QCOMPARE(o.state, TrainerState::Finished);
    std::vector<StepMetrics> steps;
    for (const TrainEvent& e : o.all)
        if (const auto* s = std::get_if<StepMetrics>(&e)) steps.push_back(*s);
    QCOMPARE(steps.size(), std::size_t(40));
    QVERIFY(steps.front().skipped);
    std::size_t skipped = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        skipped += steps[i].skipped;
        QVERIFY(std::isfinite(steps[i].loss));
        if (i == 0) continue;
        // Halved after a skip, unchanged otherwise (growth comes only after 2000 good steps).
        QCOMPARE(steps[i].loss_scale, steps[i - 1].loss_scale * (steps[i - 1].skipped ? 0.5 : 1.0));
    }
    qInfo() << skipped << "of 40 steps skipped; final scale" << steps.back().loss_scale;
    QVERIFY(skipped >= 1);
    QVERIFY(!steps.back().skipped);
    const auto warning = std::find_if(o.all.begin(), o.all.end(), [](const TrainEvent& e) {
        const auto* l = std::get_if<LogLine>(&e);
        return l && l->text.find("skipped: fp16 gradients overflowed") != std::string::npos;
    });
    QVERIFY(warning != o.all.end());
    const nlohmann::json run = RunFolder::read_run_json(c.run_dir);
    QCOMPARE(run.at("device").at("compute_dtype").get<std::string>(), std::string("fp16"));
}

// The loss scale is part of a checkpoint: a resumed fp16 run goes on as the uninterrupted one.
void TestTrainer::fp16ResumeKeepsTheScale() {
    ScratchDir a, b;
    auto config = [](const std::filesystem::path& dir) {
        TrainConfig c = small_config(dir);
        c.compute_dtype = "fp16";
        c.initial_loss_scale = 0x1p30;  // overflows at first: the scale has changed by step 3
        c.eval_every = 0;
        return c;
    };
    Trainer straight(config(a.path()));
    const Outcome full = run_to_end(straight);
    QCOMPARE(full.state, TrainerState::Finished);
    {
        Trainer t(config(b.path()));
        stop_after_step(t, 3);
    }
    resume_continues(b.path() / "run", full);
}

void TestTrainer::configRoundTrip() {
    ScratchDir d;
    TrainConfig c = small_config(d.path());
    c.base.quant = QuantType::FP4;
    c.lora.targets = {LoraTarget::Q, LoraTarget::V};
    c.optim.schedule.type = LrScheduleType::Cosine;
    const TrainConfig back = train_config_from_json(to_json(c));
    QCOMPARE(to_json(back).dump(), to_json(c).dump());
    QVERIFY_THROWS_EXCEPTION(ConfigError, train_config_from_json(nlohmann::json{{"learning_rate", 1}}));
    nlohmann::json bad = to_json(c);
    bad["lora"]["r"] = "eight";
    QVERIFY_THROWS_EXCEPTION(ConfigError, train_config_from_json(bad));
    c.micro_batch = 0;
    QVERIFY_THROWS_EXCEPTION(ConfigError, c.validate());
    c.micro_batch = 2;
    c.device_limit_bytes = -1;
    QLS_VERIFY_THROWS_WITH(c.validate(), ConfigError, "device_limit_bytes: must be 0 (no limit) or more; got -1");
    // A checkpoint's progress with an impossible step is a format error, not an internal one.
    nlohmann::json progress = TrainerProgress{}.to_json();
    QCOMPARE(TrainerProgress::from_json(progress).step, std::int64_t{0});
    progress["step"] = -5;
    QLS_VERIFY_THROWS_WITH(TrainerProgress::from_json(progress), FormatError, "impossible progress (step -5");
}

// Every problem at once, each under its run.json key, in words ("not a number" rather than nan).
void TestTrainer::configProblemsAllAtOnce() {
    TrainConfig c;
    QVERIFY(c.problems().empty());
    c.lora.rank = 0;
    c.optim.adamw.lr = std::nan("");
    c.optim.schedule.warmup_ratio = 1.5;
    c.micro_batch = 0;
    c.device = "tpu";
    const std::vector<ConfigProblem> p = c.problems().list();
    std::vector<std::string> fields;
    for (const ConfigProblem& x : p) fields.push_back(x.field);
    QCOMPARE(fields, (std::vector<std::string>{"lora.r", "optim.learning_rate", "optim.warmup_ratio", "micro_batch",
                                               "device"}));
    QCOMPARE(p[1].message, std::string("must be a number greater than 0; this is not a number"));
    QCOMPARE(p[2].message, std::string("must be at least 0 and below 1; got 1.5"));
    // validate() names them all, keys first, so a run.json author finds each.
    QLS_VERIFY_THROWS_WITH(c.validate(), ConfigError,
                           "lora.r: must be a whole number from 1 to 4096; got 0; optim.learning_rate: must be a number "
                           "greater than 0; this is not a number; optim.warmup_ratio:");
    // Every key a problem names is one run.json has, so the message points at a real setting.
    const nlohmann::json j = to_json(TrainConfig{});
    for (const std::string& f : fields) {
        const nlohmann::json* at = &j;
        std::size_t start = 0;
        for (std::size_t dot = f.find('.'); ; dot = f.find('.', start)) {
            const std::string part = f.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
            QVERIFY2(at->contains(part), f.c_str());
            at = &at->at(part);
            if (dot == std::string::npos) break;
            start = dot + 1;
        }
    }
}

// A run that cannot learn, or has nothing to validate on, is named with its fix before it starts.
void TestTrainer::degenerateRunsWarn() {
    TrainConfig c;
    c.max_steps = 0;
    c.epochs = 1;
    c.micro_batch = 4;
    c.grad_accum = 2;
    QCOMPARE(planned_total_steps(c, 9), std::int64_t{5});  // ceil(9 / 2)
    c.epochs = 0.1;
    QCOMPARE(planned_total_steps(c, 9), std::int64_t{1});  // never below one step
    c.max_steps = 7;
    QCOMPARE(planned_total_steps(c, 9), std::int64_t{7});

    // The default warm-up (ratio 0.03) of a one-step run makes its only update at rate 0.
    c.max_steps = 1;
    auto w = run_warnings(c, 1, 5);
    QCOMPARE(w.size(), std::size_t{1});
    QCOMPARE(w[0].field, std::string("optim.warmup_ratio"));
    QVERIFY2(w[0].message.find("learning rate is 0 at every one of the 1 step(s)") != std::string::npos, w[0].message.c_str());
    QVERIFY(w[0].message.find("set warm-up to 0 or train for more steps") != std::string::npos);
    // Warm-up as long as the run: some steps learn, the peak never comes.
    c.optim.schedule.warmup_steps = 10;
    w = run_warnings(c, 10, 5);
    QCOMPARE(w.size(), std::size_t{1});
    QCOMPARE(w[0].field, std::string("optim.warmup_steps"));
    QVERIFY2(w[0].message.find("never reaches") != std::string::npos, w[0].message.c_str());
    QVERIFY(run_warnings(c, 11, 5).empty());
    c.optim.schedule.warmup_steps = 0;
    c.optim.schedule.warmup_ratio = 0;
    QVERIFY(run_warnings(c, 1, 5).empty());
    // No validation examples: the loss chart's validation line, best and early stopping are gone.
    c.early_stop_patience = 2;
    w = run_warnings(c, 100, 0);
    QCOMPARE(w.size(), std::size_t{1});
    QCOMPARE(w[0].field, std::string("data.valid_fraction"));
    QVERIFY(w[0].message.find("no early stopping") != std::string::npos);
    QVERIFY(w[0].message.find("raise the validation split or choose a validation file") != std::string::npos);
}

QTEST_GUILESS_MAIN(TestTrainer)
#include "test_trainer.moc"
