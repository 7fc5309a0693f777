// One frozen base per device for every reader in the process (core/model/shared_base.h): loaded
// once per key even when two callers ask at once, other settings or other files are another
// base, a reader on its own backend generates exactly what the owner does while its accountant
// holds no base bytes, a failed or cancelled load leaves the key free, a wait can be cancelled,
// the base goes with its last holder, and a training run publishes its base, keeps its
// accounting, and after it ends leaves the base (and nothing else) on its backend for whoever
// still reads it.
#include <QtTest>
#include <atomic>
#include <fstream>
#include <thread>

#include "core/backend/cpu/cpu_backend.h"
#include "core/model/llama_generator_generate.h"
#include "core/model/model_loader.h"
#include "core/model/shared_base.h"
#include "core/tokenizer/tokenizer.h"
#include "core/train/memory_estimate.h"
#include "core/train/trainer.h"
#include "core/util/resource_paths.h"
#include "tests/generation_test_support.h"
#include "tests/test_support.h"

using namespace qls;
using qls::test::ScratchDir;

namespace {

BackendChoice cpu() {
    return make_backend(parse_device("cpu"));
}

std::int64_t base_bytes(const Backend& b) {
    return b.memory().snapshot().current_of(Usage::BaseWeights);
}

// Greedy tokens after a fixed prompt, with a random adapter on `backend`, reading `base`.
std::vector<int> greedy_tokens(Backend& backend, const DeviceBaseModel& base, const Model& model) {
    const Tokenizer tokenizer = load_model_tokenizer(model);
    const LoraAdapter adapter = test::random_adapter(model.config, 7);
    const auto lora = LoraParameters::from_adapter(backend, model.config, adapter);
    const std::vector<int> prompt = tokenizer.encode("Arr, the sea", true);
    LlamaGenerator generator(backend, base, lora.get(), static_cast<std::int64_t>(prompt.size()) + 16);
    return generate(generator, tokenizer, prompt, test::greedy(16), {}).ids;
}

// A progress callback that counts the tensors it was told about (a load reports them, a wait
// does not) and can slow each one down.
struct CountingProgress {
    std::atomic<int> tensors{0};
    std::chrono::milliseconds delay{0};
    ProgressFn fn() {
        return [this](std::size_t, std::size_t total) {
            if (total > 1) ++tensors;
            std::this_thread::sleep_for(delay);
            return true;
        };
    }
};

}  // namespace

class TestSharedBase : public QObject {
    Q_OBJECT
private slots:
    void oneLoadPerKey();
    void otherSettingsOrFilesAreAnotherBase();
    void readerGeneratesLikeTheOwner();
    void goesWithItsLastHolder();
    void failedLoadFreesTheKey();
    void waitCanBeCancelled();
    void trainingRunPublishesItsBase();
};

// Two callers at once: the second waits for the first's load and shares it; its backend is
// left to it for its own ops.
void TestSharedBase::oneLoadPerKey() {
    const Model model = load_model(demo_model_dir());
    CountingProgress first, second;
    first.delay = second.delay = std::chrono::milliseconds(2);  // the loads would overlap
    BackendChoice a = cpu(), b = cpu();
    std::shared_ptr<SharedBase> from_a, from_b;
    std::thread ta([&] { from_a = acquire_shared_base(a, "test", model, {}, first.fn()); });
    std::thread tb([&] { from_b = acquire_shared_base(b, "test", model, {}, second.fn()); });
    ta.join();
    tb.join();
    QVERIFY(from_a && from_a == from_b);
    QCOMPARE(int(!a.backend) + int(!b.backend), 1);                 // exactly one backend was taken
    QCOMPARE(int(first.tensors > 0) + int(second.tensors > 0), 1);  // and one load ran
    QVERIFY(base_bytes(from_a->owner()) > 0);
    QCOMPARE(base_bytes(a.backend ? *a.backend : *b.backend), std::int64_t(0));
    QCOMPARE(find_shared_base(from_a->key()), from_a);
}

void TestSharedBase::otherSettingsOrFilesAreAnotherBase() {
    ScratchDir d;
    const std::filesystem::path copy = d.path() / "demo";
    std::filesystem::copy(demo_model_dir(), copy, std::filesystem::copy_options::recursive);
    const Model model = load_model(copy);
    const SharedBaseKey key = shared_base_key(model, {}, "cpu");
    QCOMPARE(shared_base_key(load_model(copy), {}, "cpu"), key);  // the same files, read again
    QVERIFY(shared_base_key(model, {}, "cuda:0") != key);
    BaseWeightsOptions o;
    o.blocksize = 128;
    QVERIFY(shared_base_key(model, o, "cpu") != key);
    o = {};
    o.compute = DType::BF16;
    QVERIFY(shared_base_key(model, o, "cpu") != key);
    o = {};
    o.quant = QuantType::FP4;
    QVERIFY(shared_base_key(model, o, "cpu") != key);
    o = {};
    o.double_quant = false;
    QVERIFY(shared_base_key(model, o, "cpu") != key);
    o = {};
    o.quant = std::nullopt;
    QVERIFY(shared_base_key(model, o, "cpu") != key);
    // Other bytes under the same name: a rewritten config.json (one byte longer).
    std::ofstream(copy / "config.json", std::ios::app) << ' ';
    QVERIFY(shared_base_key(model, {}, "cpu") != key);

    BackendChoice a = cpu(), b = cpu();
    BaseWeightsOptions wide;
    wide.blocksize = 128;
    const auto narrow_base = acquire_shared_base(a, "test", model, {}, {});
    const auto wide_base = acquire_shared_base(b, "test", model, wide, {});
    QVERIFY(narrow_base != wide_base);
    QVERIFY(!a.backend && !b.backend);
}

// The weights are only read: ops on another backend give the owner's tokens bit for bit.
void TestSharedBase::readerGeneratesLikeTheOwner() {
    const Model model = load_model(demo_model_dir());
    BackendChoice owner = cpu();
    const auto shared = acquire_shared_base(owner, "test", model, {}, {});
    const std::int64_t held = base_bytes(shared->owner());
    const std::vector<int> by_owner = greedy_tokens(shared->owner(), shared->base(), model);
    CpuBackend reader;
    const std::vector<int> by_reader = greedy_tokens(reader, shared->base(), model);
    QCOMPARE(by_reader, by_owner);
    QCOMPARE(by_reader.size(), std::size_t(16));
    QCOMPARE(base_bytes(reader), std::int64_t(0));
    QCOMPARE(reader.memory().snapshot().peak_of(Usage::BaseWeights), std::int64_t(0));
    QCOMPARE(base_bytes(shared->owner()), held);
}

void TestSharedBase::goesWithItsLastHolder() {
    const Model model = load_model(demo_model_dir());
    BackendChoice a = cpu();
    auto held = acquire_shared_base(a, "test", model, {}, {});
    const SharedBaseKey key = held->key();
    auto second = find_shared_base(key);
    QCOMPARE(second, held);
    held.reset();
    QCOMPARE(find_shared_base(key), second);  // still held
    second.reset();
    QVERIFY(!find_shared_base(key));
    CountingProgress load;
    BackendChoice b = cpu();
    QVERIFY(acquire_shared_base(b, "test", model, {}, load.fn()));
    QVERIFY(load.tensors > 0);  // loaded anew
}

// A cancelled load neither publishes anything nor leaves the key marked as loading.
void TestSharedBase::failedLoadFreesTheKey() {
    const Model model = load_model(demo_model_dir());
    BaseWeightsOptions o;
    o.blocksize = 256;  // a key no other test holds
    BackendChoice a = cpu();
    QVERIFY_THROWS_EXCEPTION(
        Cancelled, acquire_shared_base(a, "test", model, o, [](std::size_t, std::size_t) { return false; }));
    QVERIFY(!a.backend);
    QVERIFY(!find_shared_base(shared_base_key(model, o, "cpu")));
    BackendChoice b = cpu();
    CountingProgress load;
    const auto base =
        acquire_shared_base(b, "test", model, o, load.fn());  // does not wait for the failed one
    QVERIFY(base && load.tensors > 0);
}

// A caller waiting for another's load stops when its own progress says so.
void TestSharedBase::waitCanBeCancelled() {
    const Model model = load_model(demo_model_dir());
    BaseWeightsOptions o;
    o.blocksize = 32;
    std::atomic<bool> loading{false}, release{false};
    BackendChoice a = cpu();
    std::shared_ptr<SharedBase> loaded;
    std::thread loader([&] {
        loaded = acquire_shared_base(a, "test", model, o, [&](std::size_t, std::size_t) {
            loading = true;
            while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            return true;
        });
    });
    while (!loading) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    BackendChoice b = cpu();
    std::atomic<int> polls{0};
    QVERIFY_THROWS_EXCEPTION(
        Cancelled,
        acquire_shared_base(b, "test", model, o, [&](std::size_t, std::size_t) { return ++polls < 3; }));
    QVERIFY(b.backend);  // a waiter keeps its backend
    release = true;
    loader.join();
    QVERIFY(loaded);
    QCOMPARE(find_shared_base(loaded->key()), loaded);
}

// The trainer's base is on its own backend's books (the estimate's base bytes); a reader finds
// it without loading; once the run ends, that backend holds the base and nothing else.
void TestSharedBase::trainingRunPublishesItsBase() {
    ScratchDir d;
    TrainConfig c;
    c.model = demo_model_dir();
    c.run_dir = d.path() / "run";
    c.data.path = demo_model_dir().parent_path() / "data" / "pirate_fortunes_train.jsonl";
    c.data.max_seq_len = 64;
    c.max_steps = 1000;
    c.save_every = 0;
    c.eval_every = 0;
    Trainer trainer(c);
    trainer.start();
    trainer.pause();
    for (int i = 0; i < 1200 && trainer.state() != TrainerState::Paused; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    QCOMPARE(trainer.state(), TrainerState::Paused);

    const Model model = load_model(c.model);
    BaseWeightsOptions options = Trainer::config_of_run(c.run_dir).base;
    options.compute = DType::F32;  // what "auto" is on the CPU
    const auto shared = find_shared_base(shared_base_key(model, options, "cpu"));
    QVERIFY(shared);
    QCOMPARE(shared->loaded_by(), std::string("the training run in run"));
    EstimateOptions e;
    e.base = options;
    CpuBackend planner;
    QCOMPARE(base_bytes(shared->owner()),
             estimate_memory(model, e, planner).bytes[static_cast<std::size_t>(Usage::BaseWeights)]);
    BackendChoice reader = cpu();
    CountingProgress none;
    QCOMPARE(acquire_shared_base(reader, "test", model, options, none.fn()), shared);
    QCOMPARE(none.tensors.load(), 0);
    CpuBackend ops;
    QCOMPARE(greedy_tokens(ops, shared->base(), model).size(), std::size_t(16));

    trainer.cancel();
    trainer.wait();
    QCOMPARE(trainer.state(), TrainerState::Cancelled);
    const MemorySnapshot left = shared->owner().memory().snapshot();
    for (Usage u : kAllUsages)
        if (u != Usage::BaseWeights) QCOMPARE(left.current_of(u), std::int64_t(0));
    QCOMPARE(left.current_of(Usage::BaseWeights), base_bytes(shared->owner()));
}

QTEST_GUILESS_MAIN(TestSharedBase)
#include "test_shared_base.moc"
