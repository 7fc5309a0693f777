// The command line as a user meets it when things go wrong, each through a real `qlora`
// process: signals end a run with a checkpoint and the signal's exit status, a diverging run
// fails instead of finishing, a file size limit mid-run stops it with a clear error and whole
// log lines, and an export refuses to write over what it did not write.
#include <QtTest>

#include <signal.h>
#include <sys/resource.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/export/peft_adapter.h"
#include "core/train/checkpoint.h"
#include "core/util/resource_paths.h"
#include "test_support.h"

using namespace qls;
namespace fs = std::filesystem;
using qls::test::ScratchDir;

namespace {

QString qlora() { return QString::fromStdString(std::string(QLS_BINARY_DIR) + "/bin/qlora"); }

QStringList train_args(const fs::path& run, int steps, int save_every = 1000) {
    const fs::path data = demo_model_dir().parent_path() / "data" / "pirate_fortunes_train.jsonl";
    return {"train", "--model", QString::fromStdString(demo_model_dir().string()), "--data",
            QString::fromStdString(data.string()), "--out", QString::fromStdString(run.string()), "--max-seq-len", "64",
            "--micro-batch", "2", "--rank", "4", "--max-steps", QString::number(steps), "--save-every",
            QString::number(save_every), "--eval-every", "0", "--valid-fraction", "0.05"};
}

// Steps of about a second on the demo model (packed rows of 512 tokens), for signals to land in.
const QStringList kLongSteps = {"--max-seq-len", "512", "--micro-batch", "8", "--packing"};

struct Result {
    int code = -1;
    QString out;  // stdout and stderr together
};

Result qlora_run(const QStringList& args, int timeout_ms = 300000) {
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(qlora(), args);
    if (!p.waitForFinished(timeout_ms)) p.kill();
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromUtf8(p.readAll())};
}

// Starts a run, sends `sigs` (one after another, `gap_ms` apart) `settle_ms` after it reports
// its second step, and waits for it to end.
Result interrupt(const fs::path& run, const std::vector<int>& sigs, int gap_ms, const QStringList& extra = {},
                 int settle_ms = 0) {
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(qlora(), train_args(run, 100000) + extra);
    QByteArray out;
    QElapsedTimer clock;
    clock.start();
    while (!out.contains("step 2/") && clock.elapsed() < 120000 && p.state() != QProcess::NotRunning) {
        p.waitForReadyRead(100);
        out += p.readAll();
    }
    QThread::msleep(static_cast<unsigned long>(settle_ms));
    // Never kill(0, …): that would signal this whole process group.
    const auto pid = static_cast<pid_t>(p.processId());
    for (std::size_t i = 0; i < sigs.size() && pid > 0 && p.state() == QProcess::Running; ++i) {
        if (i) QThread::msleep(static_cast<unsigned long>(gap_ms));
        ::kill(pid, sigs[i]);
    }
    if (!p.waitForFinished(120000)) p.kill();
    out += p.readAll();
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromUtf8(out)};
}

bool all_finite(const LoraAdapter& a) {
    for (const auto& [name, p] : a.modules)
        for (const auto* v : {&p.a, &p.b})
            for (float x : *v)
                if (!std::isfinite(x)) return false;
    return true;
}

}  // namespace

class TestCliReliability : public QObject {
    Q_OBJECT
private slots:
    void signalsSaveAndSayWhich_data();
    void signalsSaveAndSayWhich();
    void thirdSignalQuitsAtOnce();
    void divergingRunFails();
    void fileSizeLimitStopsTheRun();
    void exportRefusesForeignDestination();
};

void TestCliReliability::signalsSaveAndSayWhich_data() {
    QTest::addColumn<int>("sig");
    QTest::addColumn<int>("count");
    QTest::newRow("SIGINT") << int(SIGINT) << 1;
    QTest::newRow("SIGTERM") << int(SIGTERM) << 1;
    QTest::newRow("SIGHUP") << int(SIGHUP) << 1;
    // A second Ctrl-C right after the first only says the save is under way.
    QTest::newRow("double SIGINT") << int(SIGINT) << 2;
}

void TestCliReliability::signalsSaveAndSayWhich() {
    QFETCH(int, sig);
    QFETCH(int, count);
    ScratchDir scratch;
    const fs::path run = scratch.path() / "run";
    // Into a step of about a second, 30 ms apart: each is delivered on its own (a signal sent
    // while the same one is pending would merge with it), well before the step and the save end.
    const Result r = interrupt(run, std::vector<int>(static_cast<std::size_t>(count), sig), 30, kLongSteps, 200);
    QVERIFY2(r.code == 128 + sig, qPrintable(r.out));
    QVERIFY2(r.out.contains("finishing the step and saving a checkpoint"), qPrintable(r.out));
    if (count == 2) QVERIFY2(r.out.contains("still saving the checkpoint"), qPrintable(r.out));
    const auto steps = list_checkpoints(run);
    QVERIFY2(!steps.empty(), qPrintable(r.out));
    QVERIFY(all_finite(load_checkpoint(checkpoint_dir(run, steps.back())).adapter));
    // Interrupted, not finished: the run resumes from there.
    QVERIFY2(r.out.contains(QString("stopped at step %1").arg(steps.back())), qPrintable(r.out));
}

void TestCliReliability::thirdSignalQuitsAtOnce() {
    ScratchDir scratch;
    const fs::path run = scratch.path() / "run";
    // All three land within step 3, before the save that follows could end the run.
    const Result r = interrupt(run, {SIGINT, SIGINT, SIGINT}, 30, kLongSteps, 200);
    QVERIFY2(r.code == 128 + SIGINT, qPrintable(QString("exit %1: %2").arg(r.code).arg(r.out)));
    QVERIFY2(r.out.contains("quitting without saving"), qPrintable(r.out));
}

void TestCliReliability::divergingRunFails() {
    // lr 1e308 is a finite double but past fp32's range: the first update after warm-up (whose
    // first step runs at lr 0) overflows.
    ScratchDir scratch;
    const fs::path run = scratch.path() / "run";
    QStringList args = train_args(run, 2, 1);
    args << "--lr" << "1e308";
    const Result r = qlora_run(args);
    QVERIFY2(r.code == 1, qPrintable(r.out));
    QVERIFY2(r.out.contains("made LoRA weights NaN/Inf"), qPrintable(r.out));
    QVERIFY2(r.out.contains("--resume RUN --lr"), qPrintable(r.out));
    QVERIFY2(r.out.contains("update at step 2"), qPrintable(r.out));
    QCOMPARE(list_checkpoints(run), (std::vector<std::int64_t>{1}));  // the last finite state only
    QVERIFY(all_finite(load_checkpoint(checkpoint_dir(run, 1)).adapter));
    QVERIFY(!fs::exists(run / "adapter"));  // nothing diverged is exported
    // Trained sanely for two steps, resumed with the bad rate: the good checkpoint stays the
    // resume point, and a resume with a sane rate finishes, recording both changes.
    const fs::path good = scratch.path() / "good";
    QCOMPARE(qlora_run(train_args(good, 2, 1)).code, 0);
    const Result bad = qlora_run({"train", "--resume", QString::fromStdString(good.string()), "--max-steps", "4", "--lr", "1e308"});
    QVERIFY2(bad.code == 1, qPrintable(bad.out));
    QCOMPARE(list_checkpoints(good), (std::vector<std::int64_t>{1, 2}));
    QVERIFY(all_finite(load_checkpoint(checkpoint_dir(good, 2)).adapter));
    const Result fixed = qlora_run({"train", "--resume", QString::fromStdString(good.string()), "--lr", "1e-4"});
    QVERIFY2(fixed.code == 0, qPrintable(fixed.out));
    QVERIFY2(fixed.out.contains("optim.learning_rate 1e+308 -> 0.0001"), qPrintable(fixed.out));
    std::ifstream in(good / "run.json");
    const auto j = nlohmann::json::parse(in);
    QCOMPARE(j["config"]["max_steps"].get<int>(), 4);
    QCOMPARE(j["resumes"].size(), std::size_t(2));
    QVERIFY(all_finite(read_peft_adapter(good / "adapter")));
    // What cannot change is refused by name.
    const Result refused = qlora_run({"train", "--resume", QString::fromStdString(good.string()), "--rank", "8"});
    QVERIFY2(refused.code == 1 && refused.out.contains("cannot change 'lora.r'"), qPrintable(refused.out));
}

void TestCliReliability::fileSizeLimitStopsTheRun() {
    // A file size limit makes every write past it fail, as a full disk does, but at once and
    // for this process only. The run must stop with the reason, not finish with gaps.
    ScratchDir scratch;
    const fs::path run = scratch.path() / "run";
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.setChildProcessModifier([] {
        ::signal(SIGXFSZ, SIG_IGN);  // the write fails with EFBIG instead of killing the process
        rlimit limit{16 * 1024, 16 * 1024};
        ::setrlimit(RLIMIT_FSIZE, &limit);
    });
    p.start(qlora(), train_args(run, 400, 1000));
    QVERIFY(p.waitForFinished(300000));
    const QString out = QString::fromUtf8(p.readAll());
    QVERIFY2(p.exitCode() == 1, qPrintable(out));
    QVERIFY2(out.contains("File too large"), qPrintable(out));
    // metrics.jsonl holds whole lines only, one per step done.
    std::ifstream in(run / "metrics.jsonl");
    std::int64_t expect = 1;
    for (std::string line; std::getline(in, line);) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        QVERIFY2(!j.is_discarded(), line.c_str());
        QCOMPARE(j["step"].get<std::int64_t>(), expect++);
    }
    QVERIFY(expect > 1);
}

void TestCliReliability::exportRefusesForeignDestination() {
    ScratchDir scratch;
    const fs::path run = scratch.path() / "run";
    QCOMPARE(qlora_run(train_args(run, 1, 1)).code, 0);
    const fs::path dest = scratch.path() / "mine";
    fs::create_directories(dest);
    std::ofstream(dest / "thesis.tex") << "precious";
    const QString r = QString::fromStdString(run.string()), d = QString::fromStdString(dest.string());
    const Result refused = qlora_run({"export", r, "--peft", "--out", d});
    QVERIFY2(refused.code == 1 && refused.out.contains("is not empty ('thesis.tex')"), qPrintable(refused.out));
    QVERIFY(!fs::exists(dest / "adapter_config.json"));
    for (const QString& into : {r, r + "/adapter", QString::fromStdString(demo_model_dir().string())}) {
        const Result inside = qlora_run({"export", r, "--peft", "--force", "--out", into});
        QVERIFY2(inside.code == 1 && inside.out.contains("which this export reads from"), qPrintable(inside.out));
    }
    QVERIFY(fs::exists(run / "run.json"));
    QCOMPARE(qlora_run({"export", r, "--peft", "--force", "--out", d}).code, 0);
    std::ifstream in(dest / "thesis.tex");
    QCOMPARE(std::string(std::istreambuf_iterator<char>(in), {}), std::string("precious"));
    QCOMPARE(read_peft_adapter(dest).modules.empty(), false);
}

QTEST_GUILESS_MAIN(TestCliReliability)
#include "test_cli_reliability.moc"
