// Crash consistency, for real: `qlora train` runs as a child process and is killed with SIGKILL
// at seeded random moments, some of them while a checkpoint or the final adapter is being
// written (the harness watches for the save's temporary folder and kills as soon as it
// appears). The run is then resumed, and killed again now and then, until it finishes; its
// per-step losses and final adapter must equal an uninterrupted run's, bit for bit. The same for
// an export killed while it replaces an earlier export. QLS_CRASH_TRIALS sets the number of
// trials (default 30); the whole test stops starting trials after QLS_CRASH_SECONDS (default 600).
#include <QtTest>

#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/train/checkpoint.h"
#include "core/util/resource_paths.h"
#include "test_support.h"

using namespace qls;
namespace fs = std::filesystem;
using qls::test::ScratchDir;

namespace {

QString qlora() { return QString::fromStdString(std::string(QLS_BINARY_DIR) + "/bin/qlora"); }
QString q(const fs::path& p) { return QString::fromStdString(p.string()); }

int env_int(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoi(v) : fallback;
}

QStringList train_args(const fs::path& run) {
    const fs::path data = demo_model_dir().parent_path() / "data" / "pirate_fortunes_train.jsonl";
    return {"train", "--model", q(demo_model_dir()), "--data", q(data), "--out", q(run), "--max-seq-len", "64",
            "--micro-batch", "2", "--rank", "4", "--dropout", "0.1", "--max-steps", "10", "--save-every", "3",
            "--eval-every", "4", "--keep-checkpoints", "2", "--valid-fraction", "0.05"};
}

QProcess* start(const QStringList& args) {
    auto* p = new QProcess;
    p->setProcessChannelMode(QProcess::MergedChannels);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("QLS_THREADS", "2");  // the same reduction order in every process
    p->setProcessEnvironment(env);
    p->start(qlora(), args);
    p->waitForStarted();
    return p;
}

// A hidden temporary sibling of an atomic save exists under `dir` (or its checkpoints/).
bool saving(const fs::path& dir) {
    std::error_code ec;
    for (const fs::path& d : {dir, dir / "checkpoints"})
        for (const auto& e : fs::directory_iterator(d, ec))
            if (e.path().filename().string().starts_with(".") && e.path().filename().string().find(".tmp-") != std::string::npos)
                return true;
    return false;
}

// Runs `args` and kills it: after `delay`, or (watch) as soon as a save under `watched` begins.
// Returns true when the process was killed, false when it ended by itself (exit status in `code`).
bool run_and_kill(const QStringList& args, std::chrono::microseconds delay, bool watch, const fs::path& watched,
                  int& code, QString& out) {
    std::unique_ptr<QProcess> p(start(args));
    const auto t0 = std::chrono::steady_clock::now();
    bool killed = false;
    while (p->state() != QProcess::NotRunning) {
        if (watch ? saving(watched) : std::chrono::steady_clock::now() - t0 >= delay) {
            p->kill();
            killed = true;
            break;
        }
        p->waitForFinished(watch ? 0 : 1);
    }
    p->waitForFinished(-1);
    out = QString::fromUtf8(p->readAll());
    code = p->exitStatus() == QProcess::NormalExit ? p->exitCode() : -1;
    return killed && p->exitStatus() == QProcess::CrashExit;
}

std::vector<std::pair<std::int64_t, double>> step_losses(const fs::path& run) {
    std::vector<std::pair<std::int64_t, double>> out;
    std::ifstream in(run / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
        const auto j = nlohmann::json::parse(line);
        if (j["type"] == "step") out.emplace_back(j["step"].get<std::int64_t>(), j["loss"].get<double>());
    }
    return out;
}

std::string bytes_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

class TestCrashConsistency : public QObject {
    Q_OBJECT
private slots:
    void killedTrainingResumesIdentically();
    void killedExportIsFinishedByTheNext();
};

void TestCrashConsistency::killedTrainingResumesIdentically() {
    ScratchDir scratch;
    const fs::path ref = scratch.path() / "reference";
    const auto t0 = std::chrono::steady_clock::now();
    int code = 0;
    QString out;
    QVERIFY(!run_and_kill(train_args(ref), std::chrono::hours(1), false, ref, code, out));
    QVERIFY2(code == 0, qPrintable(out));
    const auto wall = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    const auto want_losses = step_losses(ref);
    QCOMPARE(want_losses.size(), std::size_t(10));
    const std::string want_adapter = bytes_of(ref / "adapter" / "adapter_model.safetensors");

    const int trials = env_int("QLS_CRASH_TRIALS", 30);
    const auto budget = std::chrono::seconds(env_int("QLS_CRASH_SECONDS", 600));
    std::mt19937_64 rng(20261202);
    int done = 0, kills = 0, kills_in_saves = 0;
    const auto start_all = std::chrono::steady_clock::now();
    for (int trial = 0; trial < trials && std::chrono::steady_clock::now() - start_all < budget; ++trial) {
        const fs::path run = scratch.path() / ("trial-" + std::to_string(trial));
        // Up to four kills per trial, each at a random moment or inside a save, then a run
        // left to finish.
        const int attempts = static_cast<int>(rng() % 4) + 1;
        bool finished = false;
        for (int a = 0; a <= attempts && !finished; ++a) {
            const bool last = a == attempts;
            const bool watch = !last && rng() % 3 == 0;
            const auto delay = std::chrono::microseconds(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(wall.count())));
            const QStringList args = fs::exists(run / "run.json") ? QStringList{"train", "--resume", q(run)} : train_args(run);
            const bool killed = run_and_kill(args, last ? std::chrono::hours(1) : delay, watch, run, code, out);
            if (killed) {
                ++kills;
                kills_in_saves += watch;
                continue;
            }
            QVERIFY2(code == 0, qPrintable(QString("trial %1: %2").arg(trial).arg(out)));
            finished = true;
        }
        QVERIFY2(finished, qPrintable(QString("trial %1 never finished").arg(trial)));
        QCOMPARE(step_losses(run), want_losses);
        QVERIFY2(bytes_of(run / "adapter" / "adapter_model.safetensors") == want_adapter,
                 qPrintable(QString("trial %1: the final adapter differs").arg(trial)));
        for (std::int64_t step : list_checkpoints(run)) (void)load_checkpoint(checkpoint_dir(run, step));
        QVERIFY2(!saving(run), qPrintable(QString("trial %1 left a temporary folder").arg(trial)));
        fs::remove_all(run);
        ++done;
    }
    qInfo("%d trials, %d kills (%d inside a save)", done, kills, kills_in_saves);
    QVERIFY(done >= std::min(trials, 1));
}

void TestCrashConsistency::killedExportIsFinishedByTheNext() {
    ScratchDir scratch;
    const fs::path run = scratch.path() / "run";
    int code = 0;
    QString out;
    QVERIFY(!run_and_kill(train_args(run), std::chrono::hours(1), false, run, code, out));
    QVERIFY2(code == 0, qPrintable(out));
    const fs::path clean = scratch.path() / "clean";
    QVERIFY(!run_and_kill({"export", q(run), "--peft", "--out", q(clean)}, std::chrono::hours(1), false, clean, code, out));
    QVERIFY2(code == 0, qPrintable(out));
    const std::string want = bytes_of(clean / "adapter_model.safetensors");

    const int trials = env_int("QLS_CRASH_TRIALS", 30);
    std::mt19937_64 rng(7);
    const fs::path dest = scratch.path() / "dest";
    QVERIFY(!run_and_kill({"export", q(run), "--peft", "--out", q(dest)}, std::chrono::hours(1), false, dest, code, out));
    std::ofstream(dest / "notes.txt") << "mine";
    int kills = 0;
    for (int trial = 0; trial < trials; ++trial) {
        // Killed at a random moment of an export onto the earlier one, or as its staging begins.
        const bool watch = rng() % 2 == 0;
        const auto delay = std::chrono::microseconds(rng() % 20000);
        kills += run_and_kill({"export", q(run), "--peft", "--out", q(dest)}, delay, watch, dest.parent_path(), code, out);
        QVERIFY(!run_and_kill({"export", q(run), "--peft", "--out", q(dest)}, std::chrono::hours(1), false, dest, code, out));
        QVERIFY2(code == 0, qPrintable(QString("trial %1: %2").arg(trial).arg(out)));
        QVERIFY(bytes_of(dest / "adapter_model.safetensors") == want);
        QCOMPARE(bytes_of(dest / "notes.txt"), std::string("mine"));
        QVERIFY(!saving(dest.parent_path()));  // the staging a killed export left is gone
    }
    qInfo("%d export trials, %d kills", trials, kills);
}

QTEST_GUILESS_MAIN(TestCrashConsistency)
#include "test_crash_consistency.moc"
