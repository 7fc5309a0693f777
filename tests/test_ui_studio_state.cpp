// The studio's state as a user meets it, offscreen: each page follows what was opened last (a
// new dataset drops the demo's validation file, the demo's settings are named and undoable),
// what persists across restarts (geometry, page, splitters, hyperparameters, theme), the
// Data page's counts adding up and its preview showing non-ASCII text whole, warnings before
// a run that cannot learn, the run's keys on every page, and the smaller chart and log
// behaviours. Expected values come from the files the test writes, never from the widgets.
#include <QAction>
#include <QComboBox>
#include <QApplication>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QDoubleSpinBox>
#include <QPushButton>
#include <QScrollBar>
#include <QSettings>
#include <QStandardItemModel>
#include <QTableWidget>
#include <QSignalSpy>
#include <QSpinBox>
#include <QSplitter>
#include <QTest>
#include <QTextBrowser>
#include <QTimer>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/backend/backend_registry.h"
#include "core/train/longest_seq.h"
#include "core/util/resource_paths.h"
#include "tests/test_support.h"
#include "tests/ui_test_support.h"
#include "ui/data_page.h"
#include "ui/hparams_page.h"
#include "ui/main_window.h"
#include "ui/metric_chart.h"
#include "ui/model_session.h"
#include "ui/theme.h"
#include "ui/train_page.h"
#include "ui/training_controller.h"
#include "ui/ui_format.h"

using namespace qls;
using namespace qls::ui;

namespace {

constexpr int kTimeoutMs = 60000;

std::string chat(const std::string& user, const std::string& assistant) {
    return nlohmann::json{{"messages",
                           {{{"role", "user"}, {"content", user}}, {{"role", "assistant"}, {"content", assistant}}}}}
        .dump();
}

// Six good records with text outside ASCII (accents, an emoji, CJK: several byte tokens each for
// a byte-level tokenizer), one line that is not JSON, one record without an answer.
std::filesystem::path writeDataset(const std::filesystem::path& dir) {
    const auto path = dir / "cafe.jsonl";
    std::ofstream out(path);
    for (int i = 0; i < 6; ++i) out << chat("Une question " + std::to_string(i), "Café crème 🦜 中文 n°" + std::to_string(i)) << "\n";
    out << "{\"messages\": [\n";
    out << nlohmann::json{{"messages", {{{"role", "user"}, {"content", "no answer"}}}}}.dump() << "\n";
    return path;
}

void openDemo(MainWindow& w) {
    w.show();
    w.setUpDemo();
    QTRY_VERIFY_WITH_TIMEOUT(w.session()->hasModel() && w.dataPage()->isPrepared(), kTimeoutMs);
}

// The estimate's settings as the CLI builds them from a run's config (cli_estimate.cpp), for the
// model the page has open: what the page's numbers must agree with.
EstimateOptions cliOptions(const MainWindow& w, const TrainConfig& c, const Backend& backend) {
    EstimateOptions o;
    o.base = w.session()->quantSettings().baseOptions();
    o.base.compute = resolve_compute_dtype(c.compute_dtype, backend);
    o.lora = c.lora;
    o.micro_batch = c.micro_batch;
    o.seq_len = std::int64_t(c.data.max_seq_len);
    o.checkpointing = c.checkpointing;
    o.paging = c.optim.paging;
    o.device_bytes = c.device_limit_bytes;
    return o;
}

QString estimateRow(const QTableWidget* table, Usage u) {
    for (int r = 0; r < table->rowCount(); ++r)
        if (table->item(r, 0)->text() == QString::fromLatin1(usage_name(u).data())) return table->item(r, 1)->text();
    return {};
}

}  // namespace

class TestUiStudioState : public QObject {
    Q_OBJECT
private:
    test::ScratchDir m_settingsDir;

private slots:
    void initTestCase() {
        test::isolate_settings(m_settingsDir, "test_ui_studio_state");
        QApplication::setApplicationVersion("9.8.7-test");
    }
    void init() { QSettings().clear(); }

    // A card's preset trains on that card, so it is offered only where one is (as the Device
    // menu lists it); the CPU preset always is, and trains on the CPU.
    void cardPresetsNeedTheirCard() {
        const std::vector<DeviceOption> gpus = {{"auto", "auto: NVIDIA L40S (cuda:0)"},
                                                {"cpu", "CPU (2 threads)"},
                                                {"cuda:0", "NVIDIA L40S (cuda:0)"},
                                                {"cuda:1", "NVIDIA H200 (cuda:1)"},
                                                {"cuda:2", "Tesla T4 (cuda:2)"}};
        QCOMPARE(presetDevice(Preset::L4, gpus), std::string());  // an L40S is not an L4
        QCOMPARE(presetDevice(Preset::H100, gpus), std::string("cuda:1"));
        QCOMPARE(presetDevice(Preset::T4, gpus), std::string("cuda:2"));
        QCOMPARE(presetDevice(Preset::A100, gpus), std::string());
        QCOMPARE(presetDevice(Preset::Cpu, gpus), std::string());
        TrainConfig c;
        applyPreset(Preset::T4, c, presetDevice(Preset::T4, gpus));
        QCOMPARE(c.device, std::string("cuda:2"));
        applyPreset(Preset::Cpu, c);
        QCOMPARE(c.device, std::string("cpu"));
        QCOMPARE(c.device_limit_bytes, std::int64_t{0});

        // This machine's page: the card presets are greyed out unless such a card answers.
        MainWindow w;
        auto* box = w.hparamsPage()->findChild<QComboBox*>("presetChoice");
        QVERIFY(box);
        const auto* model = qobject_cast<const QStandardItemModel*>(box->model());
        QVERIFY(model);
        const std::vector<DeviceOption> here = device_options();
        for (std::size_t i = 0; i < std::size(kAllPresets); ++i) {
            const Preset p = kAllPresets[i];
            const bool usable = !presetNamesACard(p) || !presetDevice(p, here).empty();
            QCOMPARE(model->item(int(i) + 1)->isEnabled(), usable);
        }
        QVERIFY(model->item(int(Preset::Cpu) + 1)->isEnabled());
    }

    // Opening another dataset after the demo: the demo's validation file goes with it, the new
    // file's split is said, every count adds up, and the preview shows é, 🦜 and 中文 whole.
    void dataPageFollowsTheDatasetOpened() {
        MainWindow w;
        openDemo(w);
        DataPage* data = w.dataPage();
        QVERIFY(data->validationFile().endsWith("pirate_fortunes_valid.jsonl"));
        QVERIFY(data->validationLabel()->text().contains("pirate_fortunes_valid.jsonl"));

        test::ScratchDir dir;
        data->openDataset(QString::fromStdString(writeDataset(dir.path()).string()));
        QVERIFY(data->validationFile().isEmpty());
        QVERIFY2(data->validationLabel()->text().contains("5% of the training file"),
                 qPrintable(data->validationLabel()->text()));
        QTRY_VERIFY_WITH_TIMEOUT(data->isPrepared(), kTimeoutMs);
        const DatasetStats& s = data->view().stats;
        QCOMPARE(s.records, std::size_t{7});  // the unreadable line is no record
        QCOMPARE(s.unreadable, std::size_t{1});
        QCOMPARE(s.rejected, std::size_t{1});
        QCOMPARE(s.train.examples + s.valid.examples, std::size_t{6});
        QVERIFY(s.valid.examples >= 1);  // no validation record of the new file rejected
        QCOMPARE(data->issueList()->count(), 2);
        const QString counts = data->statsLabel()->text();
        const QString expected = QStringLiteral("<b>7 records</b> read = <b>%1 training</b> + <b>%2 validation</b> "
                                                "examples + <b>1 left out</b>; 1 more line(s) could not be read")
                                     .arg(s.train.examples)
                                     .arg(s.valid.examples);
        QVERIFY2(counts.startsWith(expected), qPrintable(counts));

        const QString text = data->preview()->toPlainText();
        QVERIFY2(!text.contains(QChar(0xFFFD)), qPrintable(text));
        for (const char* want : {"Café crème", "🦜", "中文"})
            QVERIFY2(text.contains(QString::fromUtf8(want)), qPrintable(text));

        // The way back to a split is a visible button, not a cancelled dialog.
        data->setValidationFile(QString::fromStdString(writeDataset(dir.path()).string()));
        auto* clear = data->findChild<QPushButton*>("clearValidation");
        QVERIFY(clear->isVisibleTo(data));
        clear->click();
        QVERIFY(data->validationFile().isEmpty());
        QVERIFY(!clear->isVisibleTo(data));
    }

    // The Demo run replaces the user's settings visibly: the preset box names it, Undo restores
    // what was there, and an edit afterwards reads as Custom.
    void demoSettingsAreNamedAndUndoable() {
        MainWindow w;
        HparamsPage* page = w.hparamsPage();
        QCOMPARE(page->originText(), QString("Defaults"));
        page->rankBox()->setValue(4);
        QCOMPARE(page->originText(), QString("Custom (from Defaults)"));
        w.setUpDemo();
        QCOMPARE(page->originText(), QString("Demo run"));
        QCOMPARE(page->config().lora.rank, MainWindow::demoConfig().lora.rank);
        QVERIFY(page->undoButton()->isVisibleTo(page));
        page->undoButton()->click();
        QCOMPARE(page->config().lora.rank, std::int64_t{4});
        QCOMPARE(page->originText(), QString("Your earlier settings"));
        QVERIFY(!page->undoButton()->isVisibleTo(page));
        page->applyPreset(Preset::T4);
        QCOMPARE(page->originText(), presetName(Preset::T4));
        page->microBatchBox()->setValue(3);
        QVERIFY2(page->originText().startsWith("Custom (from"), qPrintable(page->originText()));
    }

    // The offload mode is a setting like any other: it round-trips through the page and a
    // saved run.json, and without gradient checkpointing there is nothing to offload.
    void offloadSettingRoundTrips() {
        MainWindow w;
        HparamsPage* page = w.hparamsPage();
        QComboBox* offload = page->offloadBox();
        QCOMPARE(page->config().offload_checkpoints, TrainConfig{}.offload_checkpoints);
        for (const char* mode : {"off", "on", "auto"}) {
            TrainConfig c;
            c.offload_checkpoints = mode;
            page->setConfig(c);
            QCOMPARE(page->config().offload_checkpoints, std::string(mode));
            QCOMPARE(offload->currentData().toString(), QString(mode));
            QVERIFY(!offload->itemData(offload->currentIndex(), Qt::ToolTipRole).toString().isEmpty());
        }
        test::ScratchDir dir;
        const QString file = QString::fromStdString((dir.path() / "run.json").string());
        offload->setCurrentIndex(offload->findData("on"));
        QCOMPARE(page->config().offload_checkpoints, std::string("on"));
        QVERIFY(page->saveConfig(file).isEmpty());
        page->setConfig(TrainConfig{});
        QCOMPARE(page->config().offload_checkpoints, std::string("auto"));
        QVERIFY(page->loadConfig(file).isEmpty());
        QCOMPARE(page->config().offload_checkpoints, std::string("on"));

        // Without checkpointing: disabled, saying why; a refused "on" stays changeable, its
        // reason beside it.
        TrainConfig c;
        c.checkpointing = false;
        page->setConfig(c);
        QVERIFY(!offload->isEnabled());
        QVERIFY2(offload->toolTip().contains("Needs gradient checkpointing"), qPrintable(offload->toolTip()));
        QCOMPARE(page->config().offload_checkpoints, std::string("auto"));
        c.offload_checkpoints = "on";
        page->setConfig(c);
        QVERIFY(offload->isEnabled());
        QVERIFY(page->reasonLabel("offload_checkpoints")->isVisibleTo(page));
        QVERIFY2(page->validationMessage().contains("Offload checkpoints: on needs gradient_checkpointing"),
                 qPrintable(page->validationMessage()));
        offload->setCurrentIndex(offload->findData("off"));
        QVERIFY(page->validationMessage().isEmpty());
        QVERIFY(!offload->isEnabled());
        c.checkpointing = true;
        page->setConfig(c);
        QVERIFY(offload->isEnabled());
        QVERIFY2(offload->toolTip().contains("host memory"), qPrintable(offload->toolTip()));
    }

    // With a device size the page names the longest sequence that fits, with and without
    // offloaded checkpoints, as the core search finds it for the same settings; "on" moves the
    // activations row to the offloaded figure.
    void longestSequenceFollowsTheCore() {
        MainWindow w;
        openDemo(w);
        HparamsPage* page = w.hparamsPage();
        QLabel* longest = page->longestSeqLabel();
        auto* table = page->findChild<QTableWidget*>("estimateTable");
        QVERIFY(table);
        TrainConfig c = page->config();
        c.device = "cpu";
        c.device_limit_bytes = 0;
        c.offload_checkpoints = "off";
        page->setConfig(c);
        QTRY_VERIFY_WITH_TIMEOUT(longest->text().contains("Set the device size"), kTimeoutMs);
        QVERIFY(longest->isVisibleTo(page));

        // 0.03 GiB: below what the demo's context needs at its micro-batch (a two-decimal size,
        // as the GiB field holds it).
        page->setConfig([&] {
            TrainConfig sized = c;
            sized.device_limit_bytes = std::llround(0.03 * double(1ll << 30));
            return sized;
        }());
        c = page->config();
        const BackendChoice device = make_backend(parse_device(c.device));
        const ModelLayout& layout = *w.session()->layout();
        const EstimateOptions o = cliOptions(w, c, *device.backend);
        const LongestSeq direct = longest_seq(layout, o, *device.backend);
        QVERIFY(direct.plain.value > 0 && !direct.plain.at_limit());
        QVERIFY(direct.offloaded && direct.offloaded->value > direct.plain.value);
        const QString plain = QString("Longest sequence that fits: %1 tokens (needs %2)")
                                  .arg(direct.plain.value)
                                  .arg(formatBytes(double(direct.plain.estimate.device_total)));
        const QString offloaded = QString("With offloaded checkpoints: %1 tokens (%2 on the device, %3 of host memory)")
                                      .arg(direct.offloaded->value)
                                      .arg(formatBytes(double(direct.offloaded->estimate.device_total)),
                                           formatBytes(double(direct.offloaded->estimate.offload_host)));
        QTRY_VERIFY2_WITH_TIMEOUT(longest->text().contains(plain), qPrintable(longest->text()), kTimeoutMs);
        QVERIFY2(longest->text().contains(offloaded), qPrintable(longest->text()));

        // Off: the activations the checkpoints keep on the device; on: what is left with them offloaded.
        const MemoryEstimate e = estimate_memory(layout, o, *device.backend);
        QVERIFY(e.activations_offloaded < e.activations_checkpointed);
        QTRY_COMPARE_WITH_TIMEOUT(estimateRow(table, Usage::Activations),
                                  formatBytes(double(e.activations_checkpointed)), kTimeoutMs);
        page->offloadBox()->setCurrentIndex(page->offloadBox()->findData("on"));
        QTRY_COMPARE_WITH_TIMEOUT(estimateRow(table, Usage::Activations),
                                  formatBytes(double(e.activations_offloaded)), kTimeoutMs);
        EstimateOptions on = o;
        on.offload_checkpoints = true;
        const QString host = formatBytes(double(estimate_memory(layout, on, *device.backend).offload_host));
        QVERIFY2(longest->text().startsWith(QString("This estimate offloads the checkpoints: %1 of host memory").arg(host)),
                 qPrintable(longest->text()));

        // Without checkpointing only the plain answer is given.
        c = page->config();
        c.checkpointing = false;
        c.offload_checkpoints = "off";
        page->setConfig(c);
        QTRY_VERIFY2_WITH_TIMEOUT(longest->text().contains("Offloaded checkpoints need gradient checkpointing"),
                                  qPrintable(longest->text()), kTimeoutMs);
    }

    // Closing and reopening the studio keeps the window, the page, the splitters, the settings
    // and the theme; settings that no longer parse fall back to the defaults.
    void settingsPersistAcrossRestarts() {
        QList<int> sizes;
        {
            MainWindow w;
            w.show();
            w.resize(1100, 760);
            QTRY_COMPARE(w.size(), QSize(1100, 760));
            w.showPage(MainWindow::DataPageIndex);
            auto* split = w.dataPage()->findChild<QSplitter*>();
            QVERIFY(split);
            split->setSizes({300, 700});
            sizes = split->sizes();
            w.hparamsPage()->rankBox()->setValue(12);
            w.findChild<QAction*>("theme-dark")->trigger();
            QVERIFY(QApplication::palette().color(QPalette::Window).lightness() < 80);
            QVERIFY(w.close());
        }
        applyTheme(Theme::Light);
        QSettings().setValue("theme", "dark");  // as the closed studio left it
        {
            MainWindow w;
            w.show();
            QCOMPARE(w.size(), QSize(1100, 760));
            QCOMPARE(w.currentPage(), MainWindow::DataPageIndex);
            QCOMPARE(w.dataPage()->findChild<QSplitter*>()->sizes(), sizes);
            QCOMPARE(w.hparamsPage()->config().lora.rank, std::int64_t{12});
            QCOMPARE(w.hparamsPage()->originText(), QString("Your last settings"));
            QVERIFY(QApplication::palette().color(QPalette::Window).lightness() < 80);
            QVERIFY(w.findChild<QAction*>("theme-dark")->isChecked());
            w.findChild<QAction*>("theme-system")->trigger();
            QVERIFY(QApplication::palette().color(QPalette::Window).lightness() > 150);
        }
        QSettings().setValue("hyperparameters", "{\"lora\": {\"r\": \"eight\"");
        MainWindow w;
        QCOMPARE(w.hparamsPage()->config().lora.rank, TrainConfig{}.lora.rank);
        QVERIFY(!QSettings().contains("hyperparameters"));
    }

    // A one-step run whose only step is warm-up (rate 0), or one without validation examples:
    // the studio asks first, with the fix, and a No starts nothing.
    void degenerateRunAsksBeforeStarting() {
        MainWindow w;
        openDemo(w);
        TrainConfig c = MainWindow::demoConfig();
        c.max_steps = 1;
        w.hparamsPage()->setConfig(c);
        QString asked;
        w.setStartQuestion([&](const QString& q) {
            asked = q;
            return false;
        });
        QVERIFY(!w.startTraining());
        QVERIFY(!w.controller()->isActive());
        QVERIFY2(asked.contains("learning rate is 0 at every one of the 1 step(s)"), qPrintable(asked));
        QVERIFY(asked.contains("set warm-up to 0 or train for more steps"));
        QVERIFY(w.trainPage()->errorLabel()->text().startsWith("Not started: "));

        c.optim.schedule.warmup_ratio = 0;
        w.hparamsPage()->setConfig(c);
        QVERIFY(w.startWarnings(w.composeConfig("m")).isEmpty());
        w.dataPage()->setValidationFile({});
        auto* fraction = w.dataPage()->findChild<QDoubleSpinBox*>("validFraction");
        QVERIFY(fraction);
        fraction->setValue(0.0);
        QTRY_VERIFY_WITH_TIMEOUT(w.dataPage()->isPrepared(), kTimeoutMs);
        QCOMPARE(w.dataPage()->view().stats.valid.examples, std::size_t{0});
        const QStringList warnings = w.startWarnings(w.composeConfig("m"));
        QCOMPARE(warnings.size(), 1);
        QVERIFY2(warnings[0].contains("no validation examples"), qPrintable(warnings[0]));
    }

    // F5, F6, F7 and Shift+F5 are the window's, not the Train page's: they work on every page.
    void runKeysWorkOnEveryPage() {
        MainWindow w;
        openDemo(w);
        TrainConfig c = MainWindow::demoConfig();
        c.max_steps = 1000;
        c.save_every = 0;
        c.eval_every = 0;
        w.hparamsPage()->setConfig(c);
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        w.showPage(MainWindow::DataPageIndex);
        QSignalSpy started(w.controller(), &TrainingController::started);
        QTest::keyClick(&w, Qt::Key_F5);
        QTRY_COMPARE(started.count(), 1);
        w.showPage(MainWindow::ModelPageIndex);
        QTRY_VERIFY_WITH_TIMEOUT(w.controller()->state() == TrainerState::Training, kTimeoutMs);
        QTest::keyClick(&w, Qt::Key_F6);
        QTRY_VERIFY_WITH_TIMEOUT(w.controller()->state() == TrainerState::Paused, kTimeoutMs);
        QTest::keyClick(&w, Qt::Key_F7);
        QTRY_VERIFY_WITH_TIMEOUT(w.controller()->state() == TrainerState::Training, kTimeoutMs);
        QSignalSpy finished(w.controller(), &TrainingController::finished);
        QTest::keyClick(&w, Qt::Key_F5, Qt::ShiftModifier);
        QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1, kTimeoutMs);
    }

    // The log keeps the newest line in view, also while its page is hidden, until the user
    // scrolls up; then it stays where they put it.
    void logFollowsUnlessScrolledUp() {
        TrainingController controller;
        TrainPage page(&controller);
        page.resize(900, 700);
        page.show();
        QScrollBar* bar = page.logView()->verticalScrollBar();
        for (int i = 0; i < 200; ++i) page.showError(QStringLiteral("line %1").arg(i));
        QApplication::processEvents();
        QVERIFY(bar->maximum() > 0);
        QCOMPARE(bar->value(), bar->maximum());
        page.hide();
        for (int i = 0; i < 50; ++i) page.showError(QStringLiteral("hidden %1").arg(i));
        page.show();
        QApplication::processEvents();
        QCOMPARE(bar->value(), bar->maximum());
        bar->setValue(bar->maximum() / 3);  // the user scrolls up
        const int held = bar->value();
        for (int i = 0; i < 50; ++i) page.showError(QStringLiteral("more %1").arg(i));
        QApplication::processEvents();
        QCOMPARE(bar->value(), held);
        bar->setValue(bar->maximum());  // and back down: following again
        page.showError("last");
        QApplication::processEvents();
        QCOMPARE(bar->value(), bar->maximum());
    }

    // A series of one point still shows (a one-step run); a long one is a plain line.
    void shortSeriesHaveMarkers() {
        MetricChart chart("Learning rate", "lr", Qt::blue);
        chart.add(1, 0.5);
        chart.refresh();
        QCOMPARE(chart.graph(0)->scatterStyle().shape(), QCPScatterStyle::ssDisc);
        for (int i = 2; i <= 40; ++i) chart.add(i, 0.5 / i);
        chart.refresh();
        QVERIFY(chart.graph(0)->scatterStyle().isNone());
    }

    // Token lengths and example counts are whole numbers: so are the histogram's ticks.
    void histogramTicksAreWhole() {
        LengthHistogramChart chart;
        chart.resize(500, 300);
        DatasetStats s;
        s.max_seq_len = 12;
        s.histogram.bin_width = 1;
        s.histogram.counts = {0, 1, 2, 1, 0, 2};
        chart.setStats(s);
        chart.resetView();
        chart.replot();
        for (QCPAxis* axis : {chart.xAxis, chart.yAxis}) {
            QVERIFY(!axis->tickVector().isEmpty());
            for (double t : axis->tickVector()) QVERIFY2(t == std::round(t), qPrintable(QString::number(t)));
        }
    }

    // Help ▸ About names the version and what trains on this machine.
    void aboutNamesTheVersions() {
        MainWindow w;
        w.show();
        QAction* about = nullptr;
        for (QAction* a : w.menuBar()->actions())
            if (a->menu() && a->text().contains("Help"))
                for (QAction* b : a->menu()->actions())
                    if (b->text().contains("About QLoRA")) about = b;
        QVERIFY(about);
        QString text;
        QTimer::singleShot(0, [&] {
            auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
            if (!box) return;
            text = box->text();
            box->accept();
        });
        about->trigger();
        QVERIFY2(text.contains(QApplication::applicationVersion()) && text.contains(qVersion()), qPrintable(text));
        QVERIFY(text.contains("Training here:"));
    }
};

QTEST_MAIN(TestUiStudioState)
#include "test_ui_studio_state.moc"
