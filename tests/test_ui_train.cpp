// The training half of the studio, offscreen: the one-click demo flow end to end (demo model,
// demo data, a few real steps, charts, adapter), the Hyperparameters page refusing bad values
// with their reason, reopening and overlaying run folders, and that training never blocks the
// event loop. Expected values come from the files the test writes or the trainer's own run
// folder on disk, never from the widgets under test.
#include <QApplication>
#include <QDir>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTest>
#include <QTextBrowser>

#include <csignal>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "core/train/train_config.h"
#include "core/util/resource_paths.h"
#include "tests/test_support.h"
#include "tests/ui_test_support.h"
#include "ui/data_page.h"
#include "ui/hparams_page.h"
#include "ui/loss_chart.h"
#include "ui/main_window.h"
#include "ui/memory_chart.h"
#include "ui/metric_chart.h"
#include "ui/model_session.h"
#include "ui/paging_panel.h"
#include "ui/quit_signals.h"
#include "ui/run_comparison_table.h"
#include "ui/train_page.h"
#include "ui/training_controller.h"

using namespace qls;
using namespace qls::ui;

namespace {

constexpr int kTimeoutMs = 60000;

std::vector<nlohmann::json> readJsonLines(const std::filesystem::path& path) {
    std::vector<nlohmann::json> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
    return lines;
}

// A run folder as the trainer writes one (run_folder.h), with known numbers.
void writeRun(const std::filesystem::path& dir, const std::vector<double>& losses, double validLoss) {
    std::filesystem::create_directories(dir / "checkpoints");
    std::ofstream(dir / "run.json") << nlohmann::json{{"format", "qlora-studio run 1"}, {"config", to_json(TrainConfig{})}}.dump();
    std::ofstream metrics(dir / "metrics.jsonl");
    for (std::size_t i = 0; i < losses.size(); ++i)
        metrics << nlohmann::json{{"type", "step"}, {"step", i + 1}, {"epoch", 0.1 * double(i + 1)}, {"loss", losses[i]},
                                  {"lr", 1e-3}, {"grad_norm", 0.5 + double(i)}, {"tokens", 100}, {"trained_tokens", 40},
                                  {"tokens_per_s", 1000.0}, {"elapsed_s", double(i)}}
                       .dump()
                << "\n";
    metrics << nlohmann::json{{"type", "eval"}, {"step", losses.size()}, {"loss", validLoss}, {"perplexity", 3.0},
                              {"tokens", 50}, {"best", true}}
                   .dump()
            << "\n";
    std::ofstream events(dir / "events.jsonl");
    events << R"({"type":"state","state":"training","message":"5 steps"})" << "\n"
           << R"({"type":"paging","time_s":0.5,"step":2,"direction":"to_host","bytes":65536,"pages":1,"reason":"evict for q_proj"})"
           << "\n"
           << R"({"type":"log","level":0,"text":"resumed nothing, all fresh"})" << "\n"
           << R"({"type":"state","state":"finished","message":"finished at step 5"})" << "\n";
}

// The demo, shown and loaded, set for a run far longer than any test waits for, with no
// checkpoint but the ones a stop writes.
void setUpLongDemoRun(MainWindow& w) {
    w.show();
    w.setUpDemo();
    QTRY_VERIFY_WITH_TIMEOUT(w.session()->hasModel() && w.dataPage()->isPrepared(), kTimeoutMs);
    TrainConfig c = MainWindow::demoConfig();
    c.max_steps = 1000;
    c.save_every = 0;
    c.eval_every = 0;
    w.hparamsPage()->setConfig(c);
}

}  // namespace

class TestUiTrain : public QObject {
    Q_OBJECT
private:
    test::ScratchDir m_settingsDir;

private slots:
    void initTestCase() {
        test::isolate_settings(m_settingsDir, "test_ui_train");
    }

    void hyperparametersRefuseBadValuesWithTheirReason() {
        MainWindow w;
        HparamsPage* page = w.hparamsPage();
        QVERIFY(page->validationMessage().isEmpty());
        QLabel* reason = page->reasonLabel("micro_batch");
        QVERIFY(reason);
        QSignalSpy validity(page, &HparamsPage::validityChanged);
        page->microBatchBox()->setValue(0);
        QVERIFY2(page->validationMessage().contains("Micro-batch: must be from 1 to 4096; got 0"),
                 qPrintable(page->validationMessage()));
        QVERIFY(reason->isVisibleTo(page));
        QCOMPARE(reason->text(), QString("must be from 1 to 4096; got 0"));
        QCOMPARE(validity.count(), 1);
        QCOMPARE(validity.last().at(0).toBool(), false);
        // Training is refused with the same reason, before anything starts.
        w.dataPage()->openDemoDataset();
        QVERIFY(!w.startTrainingWith(QString::fromStdString(demo_model_dir().string())));
        QVERIFY(!w.controller()->isActive());
        QVERIFY(w.trainPage()->errorLabel()->text().contains("Micro-batch"));

        page->microBatchBox()->setValue(4);
        QVERIFY(page->validationMessage().isEmpty());
        QVERIFY(!reason->isVisibleTo(page));
        QCOMPARE(validity.last().at(0).toBool(), true);

        // Every problem at once, each beside its field, in words rather than "got nan".
        page->rankBox()->setValue(0);
        QLineEdit* lr = page->learningRateEdit();
        lr->setText("fast");
        page->microBatchBox()->setValue(0);
        const QString all = page->validationMessage();
        QVERIFY2(all.contains("Rank r: must be a whole number from 1 to 4096; got 0"), qPrintable(all));
        QVERIFY2(all.contains("Learning rate: must be a number greater than 0; this is not a number"), qPrintable(all));
        QVERIFY2(all.contains("Micro-batch: "), qPrintable(all));
        QVERIFY2(!all.contains("nan", Qt::CaseInsensitive), qPrintable(all));
        for (const char* key : {"lora.r", "optim.learning_rate", "micro_batch"})
            QVERIFY2(page->reasonLabel(key)->isVisibleTo(page), key);
        QVERIFY(!page->reasonLabel("lora.alpha")->isVisibleTo(page));
        page->rankBox()->setValue(8);
        page->microBatchBox()->setValue(4);
        QVERIFY(!page->reasonLabel("lora.r")->isVisibleTo(page));
        lr->setText("3e-4");
        QVERIFY(page->validationMessage().isEmpty());
        QCOMPARE(page->config().optim.adamw.lr, 3e-4);

        // Presets and the run.json round trip.
        page->applyPreset(Preset::T4);
        QCOMPARE(page->config().micro_batch, 1);
        QCOMPARE(page->config().grad_accum, 16);
        test::ScratchDir dir;
        const QString file = QString::fromStdString((dir.path() / "run.json").string());
        QVERIFY(page->saveConfig(file).isEmpty());
        page->setConfig(TrainConfig{});
        QCOMPARE(page->config().grad_accum, 1);
        QVERIFY(page->loadConfig(file).isEmpty());
        QCOMPARE(page->config().grad_accum, 16);
        QCOMPARE(page->config().data.max_seq_len, std::size_t(1024));
    }

    // Host memory (paged optimizer state, offloaded checkpoints) is a line of its own, not part
    // of the device stack, and only once a sample had any.
    void memoryChartDrawsHostBytesApart() {
        MemoryChart chart;
        chart.resize(800, 300);
        auto inLegend = [&](const QString& name) {
            for (int i = 0; i < chart.legend->itemCount(); ++i)
                if (auto* item = qobject_cast<QCPPlottableLegendItem*>(chart.legend->item(i));
                    item && item->plottable()->name() == name)
                    return true;
            return false;
        };
        const QString host = "host (paged + offloaded)";
        constexpr double kMiB = 1 << 20;
        MemorySample s;
        s.memory.current[std::size_t(Usage::Activations)] = 8ll << 20;
        for (int t = 1; t <= 3; ++t) {
            s.time_s = t;
            chart.addSample(s);
        }
        chart.resetView();
        QVERIFY(!chart.showsHost());
        QVERIFY(!inLegend(host));
        const double deviceTop = chart.yAxis->range().upper;

        // 40 MiB on the host, 8 on the device: the axis makes room for the host line, and the
        // stack's top stays the device's 8 MiB.
        s.memory.current[std::size_t(Usage::PagedHost)] = 40ll << 20;
        s.time_s = 4;
        chart.addSample(s);
        chart.resetView();
        QVERIFY(chart.showsHost());
        QVERIFY(inLegend(host));
        QCOMPARE(chart.hostPointCount(), 4);
        QVERIFY(chart.yAxis->range().upper >= 40);
        QVERIFY(chart.yAxis->range().upper > deviceTop);
        QCPGraph* top = nullptr;
        for (int i = 0; i < chart.graphCount(); ++i)
            if (chart.graph(i)->name() == QString::fromLatin1(usage_name(Usage::Workspace).data())) top = chart.graph(i);
        QVERIFY(top);
        QCOMPARE(top->data()->at(3)->value, double(8ll << 20) / kMiB);

        chart.clear();
        QCOMPARE(chart.hostPointCount(), 0);
        QVERIFY(!chart.showsHost());
        QVERIFY(!inLegend(host));
    }

    // A GPU run's samples carry what the device counts as taken: a line above the stack (the
    // context and slack no category holds), in the legend, on the axis; a CPU run's resident set
    // is not drawn.
    void memoryChartDrawsWhatTheDeviceSaysInUse() {
        MemoryChart chart;
        chart.resize(800, 300);
        const QString inUse = "in use on the device (nvidia-smi)";
        auto inLegend = [&] {
            for (int i = 0; i < chart.legend->itemCount(); ++i)
                if (auto* item = qobject_cast<QCPPlottableLegendItem*>(chart.legend->item(i));
                    item && item->plottable()->name() == inUse)
                    return true;
            return false;
        };
        chart.setBackend("cuda");
        MemorySample s;
        s.memory.current[std::size_t(Usage::BaseWeights)] = 60ll << 20;
        s.memory.device_peak = 60ll << 20;
        s.time_s = 1;
        chart.addSample(s);  // no figure from the device
        chart.resetView();
        QVERIFY(!chart.showsInUse() && !inLegend());
        for (int t = 2; t <= 4; ++t) {
            s.time_s = t;
            s.device_in_use = 100ll << 20;  // 60 MiB of tensors, 40 MiB of context and slack
            chart.addSample(s);
        }
        chart.resetView();
        QVERIFY(chart.showsInUse() && inLegend());
        QCOMPARE(chart.inUsePointCount(), 3);
        QVERIFY(chart.yAxis->range().upper >= 100);
        chart.setBackend("cpu");
        QVERIFY(!chart.showsInUse() && !inLegend());
        chart.setBackend("cuda");
        chart.clear();
        QCOMPARE(chart.inUsePointCount(), 0);
        QVERIFY(!chart.showsInUse());
    }

    void controllerRefusesABadConfig() {
        TrainingController controller;
        QSignalSpy errors(&controller, &TrainingController::errorOccurred);
        TrainConfig c;
        c.micro_batch = 0;
        QVERIFY(!controller.start(c));
        QCOMPARE(errors.count(), 1);
        QVERIFY(errors.first().at(0).toString().contains("micro_batch"));
        QVERIFY(!controller.isActive());
        QVERIFY(!controller.resume("/nonexistent/run"));
        QVERIFY(errors.last().at(0).toString().contains("run.json"));
    }

    void reopenedRunFillsCharts() {
        test::ScratchDir dir;
        const std::vector<double> losses = {2.5, 2.1, 1.9, 1.6, 1.5};
        writeRun(dir.path() / "nf4", losses, 1.7);
        writeRun(dir.path() / "fp4", {2.6, 2.3, 2.2}, 2.0);
        TrainingController controller;
        TrainPage page(&controller);
        QVERIFY(page.openRun(QString::fromStdString((dir.path() / "nf4").string())));
        QCPGraph* raw = page.lossChart()->rawGraph();
        QCOMPARE(raw->dataCount(), int(losses.size()));
        for (int i = 0; i < raw->dataCount(); ++i) {
            QCOMPARE(raw->data()->at(i)->key, double(i + 1));
            QCOMPARE(raw->data()->at(i)->value, losses[std::size_t(i)]);
        }
        QCOMPARE(page.lossChart()->smoothGraph()->dataCount(), int(losses.size()));
        // The debiased EMA's first point is the first loss itself.
        QCOMPARE(page.lossChart()->smoothGraph()->data()->at(0)->value, losses[0]);
        QCOMPARE(page.lossChart()->validGraph()->dataCount(), 1);
        QCOMPARE(page.lossChart()->validGraph()->data()->at(0)->value, 1.7);
        QCOMPARE(page.lrChart()->pointCount(), int(losses.size()));
        QCOMPARE(page.pagingPanel()->table()->rowCount(), 1);
        QCOMPARE(page.pagingPanel()->table()->item(0, 5)->text(), QString("evict for q_proj"));
        QVERIFY(page.logView()->toPlainText().contains("resumed nothing, all fresh"));
        QVERIFY(page.logView()->toPlainText().contains("[finished] finished at step 5"));
        QCOMPARE(page.progressBar()->value(), 5);

        QVERIFY(page.overlayRun(QString::fromStdString((dir.path() / "fp4").string())));
        QCOMPARE(page.lossChart()->overlayCount(), 1);
        page.clearOverlays();
        QCOMPARE(page.lossChart()->overlayCount(), 0);

        const QString csv = QString::fromStdString((dir.path() / "m.csv").string());
        QVERIFY(page.exportCsv(csv).isEmpty());
        std::ifstream in(csv.toStdString());
        std::vector<std::string> rows;
        for (std::string line; std::getline(in, line);) rows.push_back(line);
        QCOMPARE(rows.size(), losses.size() + 1);
        QVERIFY(rows.back().rfind("5,", 0) == 0);
        QVERIFY(rows.back().find(",1.7") != std::string::npos);  // the validation loss of step 5
        QVERIFY(page.exportPngs(QString::fromStdString(dir.path().string())).isEmpty());
        QVERIFY(std::filesystem::file_size(dir.path() / "loss.png") > 1000);

        // A damaged line is refused with file:line; the charts keep the last good run.
        { std::ofstream(dir.path() / "nf4" / "metrics.jsonl", std::ios::app) << "{\"type\": \"step\", \"step\": \n"; }
        QVERIFY(!page.openRun(QString::fromStdString((dir.path() / "nf4").string())));
        QVERIFY(page.errorLabel()->text().contains("metrics.jsonl:7"));
        QVERIFY(!page.openRun(QString::fromStdString(dir.path().string())));
        QVERIFY(page.errorLabel()->text().contains("run.json"));
        QCOMPARE(raw->dataCount(), int(losses.size()));
    }

    // Overlaying runs puts a column per run in the comparison table under the loss chart, the
    // best value of each row highlighted, then the settings that differ; clearing hides it. At
    // the smallest window the studio supports and on a desktop.
    void overlaidRunsFillTheComparison_data() {
        QTest::addColumn<QSize>("size");
        QTest::newRow("1024x700") << QSize(1024, 700);
        QTest::newRow("1920x1080") << QSize(1920, 1080);
    }
    void overlaidRunsFillTheComparison() {
        QFETCH(QSize, size);
        test::ScratchDir dir;
        const std::vector<double> nf4 = {2.5, 2.1, 1.9, 1.6, 1.5}, fp4 = {2.6, 2.3, 2.2};
        writeRun(dir.path() / "nf4", nf4, 1.7);
        writeRun(dir.path() / "fp4", fp4, 2.0);
        nlohmann::json run;
        std::ifstream(dir.path() / "fp4" / "run.json") >> run;
        run["config"]["optim"]["learning_rate"] = 5e-5;  // the default is 2e-4
        std::ofstream(dir.path() / "fp4" / "run.json", std::ios::trunc) << run.dump();

        MainWindow w;
        w.resize(size);
        w.show();
        w.showPage(MainWindow::TrainPageIndex);
        TrainPage* page = w.trainPage();
        RunComparisonTable* table = page->comparisonTable();
        QCOMPARE(table->objectName(), QString("runComparison"));
        QVERIFY(page->openRun(QString::fromStdString((dir.path() / "nf4").string())));
        QVERIFY(!table->isVisible());  // nothing to compare with yet
        QVERIFY(page->overlayRun(QString::fromStdString((dir.path() / "fp4").string())));
        QVERIFY(table->isVisible());
        QCOMPARE(table->columnCount(), 2);
        QCOMPARE(table->horizontalHeaderItem(0)->text(), QString("nf4"));
        QCOMPARE(table->horizontalHeaderItem(1)->text(), QString("fp4"));
        auto rowOf = [&](const QString& label) {
            for (int r = 0; r < table->rowCount(); ++r)
                if (table->verticalHeaderItem(r)->text() == label) return r;
            return -1;
        };
        // Fewer than ten steps each: the final training loss is the mean of all of them.
        auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); };
        const int train = rowOf("train loss (last 10 steps)");
        QVERIFY(train >= 0);
        QCOMPARE(table->item(train, 0)->text(), QString::number(mean(nf4), 'f', 4));
        QCOMPARE(table->item(train, 1)->text(), QString::number(mean(fp4), 'f', 4));
        QCOMPARE(table->bestColumn(train), 0);
        QCOMPARE(table->item(rowOf("best valid loss (step)"), 1)->text(), QString("2.0000 (3)"));
        const int lr = rowOf("optim.learning_rate");
        QVERIFY(lr > train);
        QCOMPARE(table->item(lr, 1)->text(), QString("5e-05"));
        QCOMPARE(table->bestColumn(lr), -1);

        // The current run logs more steps: the table reads its folder again within the
        // throttle's five seconds (train_page.cpp kComparisonMs), and at once after an evaluation.
        const int steps = rowOf("steps done / planned");
        {
            std::ofstream metrics(dir.path() / "nf4" / "metrics.jsonl", std::ios::app);
            metrics << R"({"type":"step","step":6,"total_steps":10,"loss":1.25})" << "\n";
        }
        emit w.controller()->stepFinished(StepMetrics{.step = 6, .total_steps = 10, .loss = 1.25});
        QCOMPARE(table->item(steps, 0)->text(), QString("5 / 5"));  // not on every step
        QTRY_COMPARE_WITH_TIMEOUT(table->item(steps, 0)->text(), QString("6 / 10"), 10000);
        {
            std::ofstream metrics(dir.path() / "nf4" / "metrics.jsonl", std::ios::app);
            metrics << R"({"type":"eval","step":6,"loss":1.0})" << "\n";
        }
        emit w.controller()->evalFinished(EvalResult{.step = 6, .loss = 1.0});
        QCOMPARE(table->item(rowOf("final valid loss (step)"), 0)->text(), QString("1.0000 (6)"));

        // For a person to look at, beside test_ui_layout's screenshots.
        QApplication::processEvents();
        page->refreshCharts();
        const QString shots = QStringLiteral(QLS_BINARY_DIR "/screenshots/%1x%2").arg(size.width()).arg(size.height());
        QVERIFY(QDir().mkpath(shots));
        QVERIFY(w.grab().save(QDir(shots).filePath("train-compare.png"), "PNG"));
        const QRect shown(table->mapTo(page, QPoint(0, 0)), table->size());
        QVERIFY2(page->rect().contains(shown) && table->height() >= 3 * table->verticalHeader()->defaultSectionSize(),
                 qPrintable(QStringLiteral("the table at %1,%2 %3×%4").arg(shown.x()).arg(shown.y()).arg(shown.width()).arg(shown.height())));

        page->clearOverlays();
        QVERIFY(!table->isVisible());
        QCOMPARE(table->columnCount(), 0);
    }

    void demoRunTrainsWithoutBlockingTheEventLoop() {
        MainWindow w;
        w.show();
        w.setUpDemo();
        QTRY_VERIFY_WITH_TIMEOUT(w.session()->hasModel(), kTimeoutMs);
        DataPage* data = w.dataPage();
        QTRY_VERIFY_WITH_TIMEOUT(data->isPrepared(), kTimeoutMs);
        // The demo data: every line a record; the preview shows the first one's user turn masked
        // and its answer trained.
        const auto dataDir = demo_model_dir().parent_path() / "data";
        const auto train = readJsonLines(dataDir / "pirate_fortunes_train.jsonl");
        const auto valid = readJsonLines(dataDir / "pirate_fortunes_valid.jsonl");
        QCOMPARE(data->view().stats.records, train.size() + valid.size());
        QCOMPARE(data->view().stats.max_seq_len, std::size_t(128));
        QVERIFY(data->histogram()->barCount() > 0);
        const QString html = data->preview()->toHtml();
        QVERIFY(html.contains("#bfe8c8") && html.contains("#e8e8e8"));
        QString text = data->preview()->toPlainText();
        text.replace(QChar(0xA0), ' ');
        const auto& first = train.front()["messages"];
        QVERIFY2(text.contains(QString::fromStdString(first[0]["content"].get<std::string>())), qPrintable(text));
        QVERIFY(text.contains("Arr, matey!"));

        TrainConfig c = MainWindow::demoConfig();
        c.max_steps = 4;
        c.micro_batch = 4;
        c.eval_every = 2;
        w.hparamsPage()->setConfig(c);
        int ticks = 0;
        QTimer ticker;
        connect(&ticker, &QTimer::timeout, [&] { ++ticks; });
        ticker.start(10);
        QSignalSpy finished(w.controller(), &TrainingController::finished);
        QSignalSpy steps(w.controller(), &TrainingController::stepFinished);
        // While the base loads, the status line counts its layers (the page's slot runs first).
        QStringList loading;
        connect(w.controller(), &TrainingController::loadProgressed,
                [&] { loading << w.trainPage()->statusLabel()->text(); });
        QVERIFY(w.startTraining());
        QVERIFY(w.controller()->isActive());
        QCOMPARE(w.currentPage(), MainWindow::TrainPageIndex);
        QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kTimeoutMs);
        const qint64 layers = w.session()->model()->config.num_layers;
        QCOMPARE(loading.size(), int(layers + 1));
        QCOMPARE(loading.last(),
                 QString("Loading the base weights onto the device: %1 of %1 layers…").arg(layers));
        QCOMPARE(finished.first().at(0).value<TrainerState>(), TrainerState::Finished);
        QVERIFY(!w.controller()->isActive());
        const std::filesystem::path run = w.controller()->runDir().toStdString();

        // The page charts what the trainer wrote to its folder.
        std::vector<double> losses;
        for (const auto& j : readJsonLines(run / "metrics.jsonl"))
            if (j["type"] == "step") losses.push_back(j["loss"].get<double>());
        QCOMPARE(losses.size(), std::size_t(4));
        QCOMPARE(steps.count(), 4);
        QCPGraph* raw = w.trainPage()->lossChart()->rawGraph();
        QCOMPARE(raw->dataCount(), 4);
        for (int i = 0; i < 4; ++i) QCOMPARE(raw->data()->at(i)->value, losses[std::size_t(i)]);
        QVERIFY(w.trainPage()->lossChart()->validGraph()->dataCount() >= 1);
        QVERIFY(w.trainPage()->memoryChart()->sampleCount() >= 1);
        QVERIFY(std::filesystem::exists(run / "adapter" / "adapter_model.safetensors"));
        QVERIFY(std::filesystem::exists(run / "adapter" / "adapter_config.json"));
        QVERIFY(w.trainPage()->logView()->toPlainText().contains("adapter"));
        // Training took real time; the UI thread kept turning all along.
        QVERIFY2(ticks > 10, qPrintable(QString::number(ticks)));
        QVERIFY(QSettings().value("recentRuns").toStringList().contains(w.controller()->runDir()));

        // Reopening the finished run shows the same points.
        w.trainPage()->lossChart()->clear();
        QVERIFY(w.trainPage()->openRun(w.controller()->runDir()));
        QCOMPARE(w.trainPage()->lossChart()->rawGraph()->dataCount(), 4);
        QVERIFY2(w.trainPage()->statusLabel()->text().contains("4 of 4 steps, finished"),
                 qPrintable(w.trainPage()->statusLabel()->text()));
        std::filesystem::remove_all(run);
    }

    // Closing the window while a run trains asks; keeping on trains on, quitting saves a
    // checkpoint first. Reopened, the run is interrupted at its true step and resumable.
    void closingWhileTrainingAsksAndSaves() {
        MainWindow w;
        setUpLongDemoRun(w);
        QSignalSpy steps(w.controller(), &TrainingController::stepFinished);
        QSignalSpy finished(w.controller(), &TrainingController::finished);
        QVERIFY(w.startTraining());
        QTRY_VERIFY_WITH_TIMEOUT(steps.count() >= 2, kTimeoutMs);
        QString asked;
        w.setCloseQuestion([&](const QString& q) {
            asked = q;
            return false;
        });
        QVERIFY(!w.close());
        QVERIFY(asked.contains("Save a checkpoint and quit"));
        QVERIFY(w.isVisible() && w.controller()->isActive());
        const int before = steps.count();
        QTRY_VERIFY_WITH_TIMEOUT(steps.count() > before, kTimeoutMs);  // still training
        w.setCloseQuestion([](const QString&) { return true; });
        QVERIFY(!w.close());  // not yet: the run saves first, then the window closes
        QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kTimeoutMs);
        QCOMPARE(finished.first().at(0).value<TrainerState>(), TrainerState::Stopped);
        QTRY_VERIFY_WITH_TIMEOUT(!w.isVisible(), kTimeoutMs);
        const QString dir = w.controller()->runDir();
        const std::filesystem::path run = dir.toStdString();
        std::int64_t last = 0;
        for (const auto& j : readJsonLines(run / "metrics.jsonl"))
            if (j["type"] == "step") last = j["step"].get<std::int64_t>();
        QVERIFY(std::filesystem::exists(run / "checkpoints" / ("step-" + std::to_string(last))));

        TrainingController controller;
        TrainPage page(&controller);
        QVERIFY(page.openRun(dir));
        const QString status = page.statusLabel()->text();
        QVERIFY2(status.contains(QString("interrupted at step %1 of 1000 (stopped)").arg(last)), qPrintable(status));
        QVERIFY(status.contains("Resume (F7)"));
        QVERIFY(page.resumeAction()->isEnabled());
        std::filesystem::remove_all(run);
    }

    // SIGTERM (a logout, systemd) does what "save and quit" does, without asking.
    void terminationSignalSavesTheRun() {
        MainWindow w;
        QuitSignals signals_;
        connect(&signals_, &QuitSignals::quitRequested, &w, &MainWindow::saveAndQuit);
        setUpLongDemoRun(w);
        QSignalSpy steps(w.controller(), &TrainingController::stepFinished);
        QSignalSpy finished(w.controller(), &TrainingController::finished);
        bool asked = false;
        w.setCloseQuestion([&](const QString&) { return asked = true; });
        QVERIFY(w.startTraining());
        QTRY_VERIFY_WITH_TIMEOUT(steps.count() >= 1, kTimeoutMs);
        ::raise(SIGTERM);
        QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kTimeoutMs);
        QCOMPARE(finished.first().at(0).value<TrainerState>(), TrainerState::Stopped);
        QCOMPARE(signals_.firstSignal(), SIGTERM);
        QVERIFY(!asked);
        QTRY_VERIFY_WITH_TIMEOUT(!w.isVisible(), kTimeoutMs);
        const std::filesystem::path run = w.controller()->runDir().toStdString();
        QVERIFY(!std::filesystem::is_empty(run / "checkpoints"));
        std::filesystem::remove_all(run);
    }
};

QTEST_MAIN(TestUiTrain)
#include "test_ui_train.moc"
