// Run comparison (core/train/run_comparison.h): run folders written the way the trainer writes
// them (RunFolder and event_to_json, so the format is the real one), with known losses,
// throughput and memory, read back into exact figures and the settings that differ.
#include <QtTest>

#include <fstream>

#include "core/train/run_comparison.h"
#include "core/train/run_folder.h"
#include "core/train/run_logs.h"
#include "tests/test_support.h"

using namespace qls;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kMiB = 1024 * 1024;

struct SyntheticRun {
    TrainConfig config;
    std::string device_reason = "asked for";
    std::int64_t total_steps = 0;
    std::vector<double> losses;        // step i+1's training loss
    std::vector<double> tokens_per_s;  // step i+1's throughput
    std::vector<std::pair<std::int64_t, double>> evals;  // step, validation loss
    std::vector<std::int64_t> device_peaks;               // one memory sample per entry
};

// Losses are multiples of 1/8 and sums of at most ten of them, so every mean below is exact
// in binary floating point: the figures compare with ==.
fs::path writeRun(const fs::path& dir, const SyntheticRun& r) {
    RunFolder folder(dir);
    folder.create(r.config, RunDevice{"cpu", "CPU (2 threads)", "fp32", 2, r.device_reason},
                  {{"name", "model"}, {"bytes", 1000}, {"fnv1a", "cbf29ce484222325"}},
                  {{"name", "train.jsonl"}, {"bytes", 500}, {"fnv1a", "af63bd4c8601b7df"}});
    std::size_t next_eval = 0;
    for (std::size_t i = 0; i < r.losses.size(); ++i) {
        StepMetrics s;
        s.step = std::int64_t(i + 1);
        s.total_steps = r.total_steps;
        s.loss = r.losses[i];
        s.lr = r.config.optim.adamw.lr;
        s.tokens = 512;
        s.trained_tokens = 300;
        s.tokens_per_s = r.tokens_per_s[i];
        s.elapsed_s = 10.5 * double(i + 1);
        folder.append_metrics(event_to_json(s));
        if (next_eval < r.evals.size() && r.evals[next_eval].first == s.step) {
            folder.append_metrics(event_to_json(EvalResult{s.step, r.evals[next_eval].second, 0, 64, false}));
            ++next_eval;
        }
    }
    for (std::size_t i = 0; i < r.device_peaks.size(); ++i) {
        MemorySample m;
        m.step = std::int64_t(i + 1);
        m.memory.device_peak = r.device_peaks[i];
        m.memory.device_current = r.device_peaks[i] / 2;
        folder.append_event(m);
    }
    return dir;
}

void appendRaw(const fs::path& file, const std::string& bytes) {
    std::ofstream(file, std::ios::binary | std::ios::app) << bytes;
}

// Three runs: a finished NF4 run, an FP4 run still training (its last line half written), and
// a finished rank-16 run. They differ in quantization, learning rate and rank.
struct ThreeRuns {
    test::ScratchDir scratch;
    fs::path nf4, fp4, r16;
    ThreeRuns() {
        SyntheticRun a;
        a.config.optim.adamw.lr = 1e-3;
        a.config.lora.rank = 8;
        a.total_steps = 12;
        for (int i = 0; i < 12; ++i) a.losses.push_back(4.0 - 0.25 * i);  // 4, 3.75, ..., 1.25
        a.tokens_per_s = {100, 1000, 1010, 990, 1020, 980, 1000, 1005, 995, 1000, 1000, 1000};
        a.evals = {{4, 2.0}, {8, 1.5}, {12, 1.625}};
        a.device_peaks = {100 * kMiB, 300 * kMiB, 200 * kMiB};
        nf4 = writeRun(scratch.path() / "nf4", a);

        SyntheticRun b;
        b.config.base.quant = QuantType::FP4;
        b.config.optim.adamw.lr = 2e-4;
        b.config.lora.rank = 8;
        b.device_reason = "auto: no CUDA device";
        b.total_steps = 12;
        b.losses = {4.0, 3.5, 3.0, 2.5, 2.0};
        b.tokens_per_s = {200, 400, 300, 350, 250};
        b.evals = {{4, 1.875}};
        fp4 = writeRun(scratch.path() / "fp4", b);
        // The trainer is writing step 6: the reader sees the line up to where the write got.
        appendRaw(fp4 / "metrics.jsonl", R"({"type":"step","step":6,"total_steps":12,"loss":1.)");

        SyntheticRun c;
        c.config.optim.adamw.lr = 1e-3;
        c.config.lora.rank = 16;
        c.total_steps = 4;
        c.losses = {3.0, 2.0, 1.5, 1.0};
        c.tokens_per_s = {500, 700, 600, 650};
        c.evals = {{2, 1.25}, {4, 1.25}};
        c.device_peaks = {0};  // the CPU backend keeps no device: a sample of zeros
        r16 = writeRun(scratch.path() / "r16", c);
        // A resume that changed nothing records its step: history, not a setting.
        RunFolder(r16).record_resume(c.config, 2, nlohmann::json::object());
    }
};

}  // namespace

class TestRunComparison : public QObject {
    Q_OBJECT
private slots:
    void summarizesEachRun() {
        ThreeRuns runs;
        const RunComparison c = compare_runs({runs.nf4, runs.fp4, runs.r16});
        QCOMPARE(c.runs.size(), std::size_t(3));

        const RunSummary& a = c.runs[0];
        QCOMPARE(a.name, std::string("nf4"));
        QCOMPARE(a.steps_done, 12);
        QCOMPARE(a.steps_planned, 12);
        // The last ten of 4 - 0.25 i (i = 2..11): 3.5 down to 1.25, mean 2.375.
        QCOMPARE(*a.final_train_loss, 2.375);
        QCOMPARE(a.final_train_loss_steps, kFinalLossSteps);
        QCOMPARE(*a.best_valid_loss, 1.5);
        QCOMPARE(a.best_valid_step, 8);
        QCOMPARE(*a.final_valid_loss, 1.625);
        QCOMPARE(a.final_valid_step, 12);
        QCOMPARE(*a.median_tokens_per_s, 1000.0);  // the slow first step does not drag it down
        QCOMPARE(*a.peak_device_bytes, 300 * kMiB);
        QCOMPARE(a.train_time_s, 126.0);  // 12 × 10.5 s

        const RunSummary& b = c.runs[1];
        QCOMPARE(b.steps_done, 5);  // the torn step 6 is not counted
        QCOMPARE(b.steps_planned, 12);
        QCOMPARE(*b.final_train_loss, 3.0);  // fewer than ten steps: the mean of all five
        QCOMPARE(b.final_train_loss_steps, 5);
        QCOMPARE(*b.best_valid_loss, 1.875);
        QCOMPARE(b.best_valid_step, 4);
        QCOMPARE(*b.median_tokens_per_s, 300.0);
        QVERIFY(!b.peak_device_bytes);  // no memory sample logged

        const RunSummary& r = c.runs[2];
        QCOMPARE(*r.final_train_loss, 1.875);
        QCOMPARE(*r.best_valid_loss, 1.25);
        QCOMPARE(r.best_valid_step, 2);  // a tie keeps the first step that reached it
        QCOMPARE(r.final_valid_step, 4);
        QCOMPARE(*r.median_tokens_per_s, 625.0);  // an even count: the mean of 600 and 650
        QVERIFY(!r.peak_device_bytes);            // zeros are no measurement
    }

    // Only the settings that differ, each with every run's value; the resume history and the
    // prose on how the device was chosen are left out although they differ.
    void listsTheSettingsThatDiffer() {
        ThreeRuns runs;
        const RunComparison c = compare_runs({runs.nf4, runs.fp4, runs.r16});
        QStringList keys;
        for (const SettingDifference& d : c.differences) keys << QString::fromStdString(d.key);
        QCOMPARE(keys, (QStringList{"base.quant", "lora.r", "optim.learning_rate"}));
        QCOMPARE(*c.differences[0].values[1], nlohmann::json("fp4"));
        QCOMPARE(*c.differences[1].values[2], nlohmann::json(16));
        QCOMPARE(*c.differences[2].values[1], nlohmann::json(2e-4));

        // The same runs without the FP4 one differ in rank only.
        const RunComparison two = compare_runs({runs.nf4, runs.r16});
        QCOMPARE(two.differences.size(), std::size_t(1));
        QCOMPARE(two.differences[0].key, std::string("lora.r"));
    }

    // A run written before a setting existed has no such key: it differs, shown as absent.
    void aMissingKeyDiffers() {
        ThreeRuns runs;
        nlohmann::json old = RunFolder::read_run_json(runs.r16);
        old["config"].erase("initial_loss_scale");
        std::ofstream(runs.r16 / "run.json", std::ios::trunc) << old.dump(2);
        const RunComparison c = compare_runs({runs.nf4, runs.r16});
        const auto it = std::find_if(c.differences.begin(), c.differences.end(),
                                     [](const SettingDifference& d) { return d.key == "initial_loss_scale"; });
        QVERIFY(it != c.differences.end());
        QVERIFY(it->values[0].has_value());
        QVERIFY(!it->values[1].has_value());
        const auto rows = comparison_rows(c);
        const auto row = std::find_if(rows.begin(), rows.end(),
                                      [](const ComparisonRow& r) { return r.label == "initial_loss_scale"; });
        QVERIFY(row != rows.end() && row->setting);
        QCOMPARE(row->cells[1], std::string("—"));
    }

    // The rows the table and `qlora compare` print: text per run, and the best run per row.
    void rowsMarkTheBest() {
        ThreeRuns runs;
        const auto rows = comparison_rows(compare_runs({runs.nf4, runs.fp4, runs.r16}));
        auto row = [&](const std::string& label) -> const ComparisonRow& {
            const auto it = std::find_if(rows.begin(), rows.end(), [&](const ComparisonRow& r) { return r.label == label; });
            if (it == rows.end()) throw std::runtime_error("no row " + label);
            return *it;
        };
        QCOMPARE(row("steps done / planned").cells, (std::vector<std::string>{"12 / 12", "5 / 12", "4 / 4"}));
        QVERIFY(row("steps done / planned").best.empty());
        const ComparisonRow& train = row("train loss (last 10 steps)");
        QCOMPARE(train.cells, (std::vector<std::string>{"2.3750", "3.0000", "1.8750"}));
        QCOMPARE(train.best, std::vector<std::size_t>{2});
        QCOMPARE(row("best valid loss (step)").cells, (std::vector<std::string>{"1.5000 (8)", "1.8750 (4)", "1.2500 (2)"}));
        QCOMPARE(row("best valid loss (step)").best, std::vector<std::size_t>{2});
        QCOMPARE(row("final valid loss (step)").best, std::vector<std::size_t>{2});
        QCOMPARE(row("median tokens/s").cells, (std::vector<std::string>{"1000", "300", "625"}));
        QCOMPARE(row("median tokens/s").best, std::vector<std::size_t>{0});  // higher is better
        QCOMPARE(row("peak device memory").cells, (std::vector<std::string>{"300.0 MiB", "—", "—"}));
        QVERIFY(row("peak device memory").best.empty());  // one run alone is no comparison
        QCOMPARE(row("train time").cells, (std::vector<std::string>{"0:02:06", "0:00:52", "0:00:42"}));
        QVERIFY(rows.back().setting);
        QCOMPARE(rows.back().label, std::string("optim.learning_rate"));
        QCOMPARE(rows.back().cells, (std::vector<std::string>{"0.001", "0.0002", "0.001"}));

        // Two runs with the same figures: all equal, none stands out; beside a worse run, both do.
        for (const ComparisonRow& r : comparison_rows(compare_runs({runs.nf4, runs.nf4}))) QVERIFY(r.best.empty());
        const auto tied = comparison_rows(compare_runs({runs.nf4, runs.fp4, runs.nf4}));
        QCOMPARE(tied[1].label, std::string("train loss (last 10 steps)"));
        QCOMPARE(tied[1].best, (std::vector<std::size_t>{0, 2}));

        const nlohmann::json j = to_json(compare_runs({runs.nf4, runs.fp4}));
        QCOMPARE(j["runs"][1]["final_train_loss"].get<double>(), 3.0);
        QVERIFY(j["runs"][1]["peak_device_bytes"].is_null());
        QCOMPARE(j["differences"]["base.quant"], (nlohmann::json{"nf4", "fp4"}));
    }

    // A folder without run.json is named in the error; nothing is compared.
    void aFolderWithoutRunJsonIsNamed() {
        ThreeRuns runs;
        const fs::path empty = runs.scratch.path() / "not-a-run";
        fs::create_directories(empty);
        QLS_VERIFY_THROWS_WITH(compare_runs({runs.nf4, empty}), ConfigError, "not-a-run' is not a run folder (no run.json)");
    }

    // Only a last line without its newline is a write under way; a broken line inside the file
    // is damage and named by file and line.
    void aBrokenLineInsideTheFileIsAnError() {
        ThreeRuns runs;
        appendRaw(runs.nf4 / "metrics.jsonl", "{\"type\":\"step\",\"step\":13,\"loss\":\n");
        QLS_VERIFY_THROWS_WITH(summarize_run(runs.nf4), FormatError, "metrics.jsonl:16");
        appendRaw(runs.r16 / "metrics.jsonl", "{\"type\":\"step\",\"step\":5}\n");  // no loss
        QLS_VERIFY_THROWS_WITH(summarize_run(runs.r16), FormatError, "metrics.jsonl:7");
    }

    // A run that has not logged a step yet (still loading) compares with empty figures.
    void aRunWithoutStepsHasNoFigures() {
        test::ScratchDir scratch;
        const fs::path dir = writeRun(scratch.path() / "loading", SyntheticRun{});
        const RunSummary s = summarize_run(dir);
        QCOMPARE(s.steps_done, 0);
        QVERIFY(!s.final_train_loss && !s.best_valid_loss && !s.median_tokens_per_s);
        QCOMPARE(comparison_rows(RunComparison{{s}, {}})[1].cells, std::vector<std::string>{"—"});
    }

    // A name for a folder given with a trailing slash.
    void aTrailingSlashKeepsTheName() {
        ThreeRuns runs;
        QCOMPARE(summarize_run(runs.nf4.string() + "/").name, std::string("nf4"));
    }
};

QTEST_GUILESS_MAIN(TestRunComparison)
#include "test_run_comparison.moc"
