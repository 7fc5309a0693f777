// The studio's Model and Inspect pages over the core, offscreen: opening models (the shared
// llama3-tiny fixture, its GGUF twin, the demo model, a corrupt folder, a folder that is no
// model, a config-only folder), the summary and memory table, the inspector's table and charts
// (legends clear of the data, one colour scale, the table following the selection), and that
// background work leaves the event loop turning.
// Expected values come from the fixtures' config.json, never from the code under test.
#include <QApplication>
#include <QCheckBox>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QTableView>
#include <QComboBox>
#include <QTableWidget>
#include <QTreeWidget>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/util/error.h"
#include "core/util/resource_paths.h"
#include "tests/test_support.h"
#include "ui/background_task.h"
#include "ui/hparams_page.h"
#include "ui/inspect_page.h"
#include "ui/main_window.h"
#include "ui/memory_chart.h"
#include "ui/model_page.h"
#include "ui/model_session.h"
#include "ui/quant_plots.h"
#include "ui/quant_table_model.h"
#include "ui/tensor_detail_panel.h"
#include "ui/train_page.h"

using namespace qls;
using namespace qls::ui;

namespace {

constexpr int kLoadTimeoutMs = 60000;

std::filesystem::path llamaDir() { return test::ref_dir() / "models" / "llama3-tiny"; }

nlohmann::json readConfig(const std::filesystem::path& dir) {
    std::ifstream in(dir / "config.json");
    return nlohmann::json::parse(in);
}

QString summary(MainWindow& w, const char* key) { return w.modelPage()->summaryLabel(key)->text(); }

}  // namespace

class TestUiStudio : public QObject {
    Q_OBJECT
private:
    test::ScratchDir m_settingsDir;

private slots:
    void initTestCase() {
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope,
                           QString::fromStdString(m_settingsDir.path().string()));
        QApplication::setOrganizationName("qls-test");
        QApplication::setApplicationName("test_ui_studio");
    }

    // A desktop switching to dark while the studio runs: every chart repaints in the new palette.
    void chartsFollowPaletteChange() {
        MemoryChart memory;
        WeightHistogramPlot weights;
        BlockErrorMapPlot blocks;
        const QPalette light = QApplication::palette();
        QPalette dark = light;
        dark.setColor(QPalette::Base, QColor(30, 30, 34));
        dark.setColor(QPalette::Window, QColor(40, 40, 44));
        dark.setColor(QPalette::WindowText, QColor(235, 235, 235));
        QVERIFY(memory.axisRect()->backgroundBrush().color() != dark.color(QPalette::Base));
        QApplication::setPalette(dark);
        QCoreApplication::processEvents();
        for (QCustomPlot* plot : std::initializer_list<QCustomPlot*>{&memory, &weights, &blocks}) {
            QCOMPARE(plot->axisRect()->backgroundBrush().color(), dark.color(QPalette::Base));
            QCOMPARE(plot->xAxis->tickLabelColor(), dark.color(QPalette::WindowText));
        }
        QCOMPARE(memory.graph(memory.graphCount() - 1)->pen().color(), dark.color(QPalette::WindowText));
        QCOMPARE(weights.bars()->brush().color().rgb(), dark.color(QPalette::WindowText).rgb());
        QApplication::setPalette(light);
        QCoreApplication::processEvents();
        QCOMPARE(memory.axisRect()->backgroundBrush().color(), light.color(QPalette::Base));
    }

    // 36 MiB of a CPU run under a 16 GiB budget: the axis follows the data and a note names the
    // budget, instead of a flat line at the bottom; a budget near the data stays on the scale.
    void memoryChartScalesToTheData() {
        MemoryChart memory;
        memory.resize(800, 300);
        memory.setBackend("cpu");
        QCOMPARE(memory.title(), QString("Memory by use"));
        MemorySample s;
        s.time_s = 1;
        s.memory.current[std::size_t(Usage::BaseWeights)] = 36ll << 20;
        s.memory.device_peak = 36ll << 20;
        s.device_limit = 16ll << 30;
        memory.addSample(s);
        s.time_s = 2;
        memory.addSample(s);
        memory.resetView();
        QVERIFY2(memory.yAxis->range().upper < 100, qPrintable(QString::number(memory.yAxis->range().upper)));
        QCOMPARE(memory.offScaleNote(), QString("budget 16 GiB ↑"));
        s.device_limit = 64ll << 20;
        s.time_s = 3;
        memory.addSample(s);
        memory.resetView();
        QVERIFY(memory.yAxis->range().upper >= 64);
        QVERIFY(memory.offScaleNote().isEmpty());
        memory.setBackend("cuda");
        QCOMPARE(memory.title(), QString("Device memory by use"));
    }

    void backgroundTaskKeepsEventLoopTurning() {
        BackgroundTask task;
        int ticks = 0, progressCalls = 0;
        qint64 lastDone = -1, lastTotal = -1;
        bool done = false;
        QTimer timer;
        connect(&timer, &QTimer::timeout, [&] { ++ticks; });
        timer.start(5);
        connect(&task, &BackgroundTask::progressed, [&](qint64 d, qint64 t) {
            ++progressCalls;
            lastDone = d;
            lastTotal = t;
        });
        task.start("sleepy", [&done](const ProgressFn& progress) -> BackgroundTask::Delivery {
            for (int i = 0; i < 30; ++i) {
                report_progress(progress, std::size_t(i), 30);
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            report_progress(progress, 29, 30);  // the last call is not final: it must still arrive
            return [&done] { done = true; };
        });
        QVERIFY(task.isRunning());
        QVERIFY(!done);
        QTRY_VERIFY_WITH_TIMEOUT(done, 10000);
        QVERIFY2(ticks > 20, qPrintable(QString("only %1 timer ticks during 600 ms of work").arg(ticks)));
        // ~600 ms of work at most ten updates a second, plus the first and the flushed last one.
        QVERIFY2(progressCalls >= 2 && progressCalls <= 12, qPrintable(QString::number(progressCalls)));
        QCOMPARE(lastDone, 29);
        QCOMPARE(lastTotal, 30);
        QVERIFY(!task.isRunning());
    }

    void backgroundTaskCancelsAndReportsErrors() {
        BackgroundTask task;
        bool cancelled = false, succeeded = false;
        QString error;
        connect(&task, &BackgroundTask::cancelled, [&] { cancelled = true; });
        connect(&task, &BackgroundTask::succeeded, [&] { succeeded = true; });
        connect(&task, &BackgroundTask::failed, [&](const QString& m) { error = m; });
        task.start("endless", [](const ProgressFn& progress) -> BackgroundTask::Delivery {
            for (std::size_t i = 0;; ++i) {
                report_progress(progress, i, i + 1);
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        });
        task.cancel();
        QTRY_VERIFY_WITH_TIMEOUT(cancelled, 5000);
        QVERIFY(!succeeded);
        QVERIFY(error.isEmpty());

        task.start("broken", [](const ProgressFn&) -> BackgroundTask::Delivery {
            throw FormatError("model.safetensors: header too short");
        });
        QTRY_VERIFY_WITH_TIMEOUT(!error.isEmpty(), 5000);
        QCOMPARE(error, QString("model.safetensors: header too short"));
        QVERIFY(!succeeded);
    }

    void referenceModelFillsModelPage() {
        const auto cfg = readConfig(llamaDir());
        MainWindow w;
        w.show();
        w.openModel(QString::fromStdString(llamaDir().string()));
        QTRY_VERIFY_WITH_TIMEOUT(w.session()->hasModel(), kLoadTimeoutMs);

        QVERIFY(summary(w, "architecture").contains("LlamaForCausalLM"));
        QCOMPARE(summary(w, "layers"), QString::number(cfg["num_hidden_layers"].get<int>()));
        QCOMPARE(summary(w, "hidden"), QString::number(cfg["hidden_size"].get<int>()));
        QCOMPARE(summary(w, "mlp"), QString::number(cfg["intermediate_size"].get<int>()));
        QCOMPARE(summary(w, "heads"), QString::number(cfg["num_attention_heads"].get<int>()));
        QVERIFY(summary(w, "kvHeads").startsWith(QString::number(cfg["num_key_value_heads"].get<int>())));
        QCOMPARE(summary(w, "headDim"), QString::number(cfg["head_dim"].get<int>()));
        QCOMPARE(summary(w, "vocab"), QString::number(cfg["vocab_size"].get<int>()));
        QVERIFY(summary(w, "context").startsWith(QString::number(cfg["max_position_embeddings"].get<int>())));
        QVERIFY(summary(w, "rope").contains("Llama-3 scaling"));
        QCOMPARE(summary(w, "tied"), QString("yes"));
        QCOMPARE(summary(w, "format"), QString("safetensors"));
        QVERIFY(summary(w, "prequant").startsWith("none"));
        QVERIFY(summary(w, "tokenizer").contains("BPE"));
        QVERIFY(!summary(w, "chatTemplate").isEmpty());

        QTableWidget* memory = w.modelPage()->memoryTable();
        QCOMPARE(memory->rowCount(), 4);
        for (int r = 0; r < 4; ++r) {
            for (int c = 0; c < memory->columnCount(); ++c)
                QVERIFY2(memory->item(r, c) && !memory->item(r, c)->text().isEmpty(), qPrintable(QString("%1,%2").arg(r).arg(c)));
            QVERIFY(memory->item(r, 5)->text().contains("fits"));  // a few MB against any budget
        }
        QVERIFY(memory->item(0, 0)->text().contains("bf16"));
        QVERIFY(memory->item(0, 4)->text().startsWith("16.0"));  // 16 bits per linear weight in bf16
        QVERIFY(memory->item(2, 0)->text().contains("chosen"));  // NF4 + double quant by default
        QCOMPARE(QString::fromStdString(cfg["dtype"].get<std::string>()), QString("float32"));
        QCOMPARE(summary(w, "dtype"), QString("F32"));  // read from the tensors, as safetensors spells it
    }

    // A folder with only config.json (a model not downloaded yet) is described, not refused: the
    // summary, the memory table and the Hyperparameters estimate come from the config, a note
    // says so, the fit buttons apply what fits, and training is refused with the reason.
    void configOnlyFolderIsDescribed() {
        const auto cfg = readConfig(llamaDir());
        const test::ScratchDir dir;
        const auto folder = dir.path() / "llama3-tiny";
        std::filesystem::create_directories(folder);
        std::filesystem::copy_file(llamaDir() / "config.json", folder / "config.json");
        MainWindow w;
        w.show();
        w.openModel(QString::fromStdString(folder.string()));
        QTRY_VERIFY_WITH_TIMEOUT(w.session()->isConfigOnly(), kLoadTimeoutMs);
        QVERIFY(!w.session()->hasModel());
        QVERIFY(!w.modelPage()->configOnlyNote()->isHidden());
        QVERIFY(w.modelPage()->configOnlyNote()->text().contains("weights not downloaded"));
        QCOMPARE(summary(w, "format"), QString("config only: weights not downloaded"));
        QCOMPARE(summary(w, "layers"), QString::number(cfg["num_hidden_layers"].get<int>()));
        QCOMPARE(summary(w, "dtype"), QString("F32"));
        QTableWidget* memory = w.modelPage()->memoryTable();
        QCOMPARE(memory->rowCount(), 4);
        QVERIFY(memory->item(2, 5) && memory->item(2, 5)->text().contains("fits"));

        HparamsPage* hp = w.hparamsPage();
        QTRY_VERIFY_WITH_TIMEOUT(hp->estimateVerdict()->text().contains("config only"), 5000);
        QVERIFY(!hp->fitMicroBatchButton()->isEnabled());  // no device size to fit yet
        hp->applyPreset(Preset::T4);
        QTRY_VERIFY_WITH_TIMEOUT(hp->fitSeqLenButton()->isEnabled(), 5000);
        hp->fitSeqLenButton()->click();
        // A tiny model on 16 GiB: its whole context fits.
        QCOMPARE(hp->config().data.max_seq_len, std::size_t(cfg["max_position_embeddings"].get<int>()));
        QTRY_VERIFY_WITH_TIMEOUT(hp->estimateVerdict()->text().startsWith("fits"), 5000);

        QVERIFY(!w.startTraining());
        QVERIFY2(w.trainPage()->errorLabel()->text().contains("weights are not downloaded"),
                 qPrintable(w.trainPage()->errorLabel()->text()));
    }

    // A GGUF file names the ggml types it stores, not the float32 it is dequantized to. The
    // fixture (tests/fixtures/gguf/make_gguf_fixtures.py) writes the MLP and the embedding as
    // Q8_0, v as F16, o as BF16, norms, q and k as F32.
    void ggufModelNamesItsStorage() {
        MainWindow w;
        w.show();
        w.openModel(QString::fromStdString((test::fixture_dir() / "gguf" / "llama3-tiny.gguf").string()));
        QTRY_VERIFY_WITH_TIMEOUT(w.session()->hasModel(), kLoadTimeoutMs);
        const QString stored = summary(w, "dtype");
        QVERIFY2(stored.startsWith("Q8_0 (") && stored.contains("F16 (") && stored.contains("BF16 (") &&
                     stored.contains("F32 ("),
                 qPrintable(stored));
        QVERIFY2(!stored.contains("float32"), qPrintable(stored));
        QCOMPARE(summary(w, "format"), QString("GGUF"));

        // Its Q8_0 MLP can be trained as stored: the choice is offered, on by default, and
        // reaches the run's config; unchecking it re-quantizes.
        auto* keep = w.findChild<QCheckBox*>("ggufBlocks");
        QVERIFY(keep->isVisibleTo(&w));
        QVERIFY2(keep->text().contains("Q8_0"), qPrintable(keep->text()));
        QVERIFY(keep->isChecked());
        QVERIFY(w.session()->quantSettings().baseOptions().gguf_blocks);
        keep->setChecked(false);
        QVERIFY(!w.session()->quantSettings().baseOptions().gguf_blocks);
        keep->setChecked(true);
        w.openModel(QString::fromStdString(llamaDir().string()));
        QTRY_VERIFY_WITH_TIMEOUT(!keep->isVisibleTo(&w), kLoadTimeoutMs);  // nothing to keep in safetensors
    }

    void folderWithoutConfigSaysSo() {
        test::ScratchDir dir;
        std::ofstream(dir.path() / "train.jsonl") << "{}\n";
        MainWindow w;
        w.show();
        w.openModel(QString::fromStdString(dir.path().string()));
        auto* error = w.findChild<QLabel*>("modelError");
        QTRY_VERIFY_WITH_TIMEOUT(error->isVisibleTo(&w), kLoadTimeoutMs);
        const QString want = QString("'%1' is not a model folder: it has no config.json")
                                 .arg(QString::fromStdString(dir.path().string()))
                                 .toHtmlEscaped();
        QVERIFY2(error->text().contains(want), qPrintable(error->text()));
    }

    void inspectorTableAndCharts() {
        const auto cfg = readConfig(llamaDir());
        const int layers = cfg["num_hidden_layers"].get<int>();
        MainWindow w;
        w.show();
        w.showPage(MainWindow::InspectPageIndex);
        w.openModel(QString::fromStdString(llamaDir().string()));
        InspectPage* page = w.inspectPage();
        QTRY_VERIFY_WITH_TIMEOUT(page->tableReady(), kLoadTimeoutMs);

        // One row per linear weight (7 per layer) plus the totals row, all numbers finite.
        QuantTableModel* model = page->tableModel();
        QCOMPARE(model->rowCount(), 7 * layers + 1);
        for (int r = 0; r < model->rowCount(); ++r)
            for (int c = 5; c < model->columnCount(); ++c) {  // after the "stored as" text
                const double v = model->index(r, c).data(QuantTableModel::SortRole).toDouble();
                QVERIFY2(std::isfinite(v) && v > 0, qPrintable(QString("row %1 col %2: %3").arg(r).arg(c).arg(v)));
            }
        QCOMPARE(model->index(0, 0).data().toString(), QString("model.layers.0.self_attn.q_proj.weight"));
        QCOMPARE(model->index(0, 3).data().toString(), QString("%1 x %2").arg(cfg["num_attention_heads"].get<int>() * cfg["head_dim"].get<int>()).arg(cfg["hidden_size"].get<int>()));
        QVERIFY(!w.findChild<QLabel*>("verdict")->text().isEmpty());
        QCOMPARE(model->index(0, 4).data().toString(),
                 QString::fromStdString(std::string(dtype_name(w.session()->model()->weights.get(
                     "model.layers.0.self_attn.q_proj.weight").view.dtype))));

        // Sorting by NF4 MSE (column 6) in either direction keeps the totals row last.
        auto* view = w.findChild<QTableView*>("quantTable");
        for (auto order : {Qt::AscendingOrder, Qt::DescendingOrder}) {
            view->sortByColumn(6, order);
            const int last = view->model()->rowCount() - 1;
            QVERIFY(view->model()->index(last, 0).data(QuantTableModel::TotalsRole).toBool());
            const double a = view->model()->index(0, 6).data(QuantTableModel::SortRole).toDouble();
            const double b = view->model()->index(last - 1, 6).data(QuantTableModel::SortRole).toDouble();
            QVERIFY(order == Qt::AscendingOrder ? a <= b : a >= b);
        }

        // CSV: header, one line per tensor, totals.
        test::ScratchDir dir;
        const QString csv = QString::fromStdString((dir.path() / "errors.csv").string());
        QCOMPARE(page->exportCsv(csv), QString());
        QFile f(csv);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QStringList lines = QString::fromUtf8(f.readAll()).trimmed().split('\n');
        QCOMPARE(lines.size(), 7 * layers + 2);
        QVERIFY(lines.front().startsWith("tensor,layer,module,shape,stored as,bits/param stored,NF4 MSE"));
        QVERIFY(lines.back().startsWith("all linear weights"));

        // The first tensor is selected on load; its charts fill in.
        TensorDetailPanel* detail = page->detail();
        QTRY_VERIFY_WITH_TIMEOUT(detail->hasResult(), kLoadTimeoutMs);
        auto* weights = w.findChild<WeightHistogramPlot*>("weightHistogram");
        auto* errors = w.findChild<ErrorHistogramPlot*>("errorHistogram");
        auto* map = w.findChild<BlockErrorMapPlot*>("blockErrorMap");
        QCOMPARE(weights->bars()->data()->size(), 201);
        QCOMPARE(weights->levels(QuantType::NF4)->data()->size(), 16);
        QCOMPARE(weights->levels(QuantType::FP4)->data()->size(), 15);  // +0 and -0 are one line
        QCOMPARE(errors->curve(QuantType::NF4)->data()->size(), 201);
        QCOMPARE(errors->curve(QuantType::FP4)->data()->size(), 201);
        // q_proj is (heads*head_dim) x hidden; 96 is no multiple of 64: a flat near-square grid.
        const std::int64_t numel = std::int64_t(cfg["num_attention_heads"].get<int>()) * cfg["head_dim"].get<int>() *
                                   cfg["hidden_size"].get<int>();
        const std::int64_t blocks = (numel + 63) / 64;
        QCPColorMapData* cells = map->colorMap()->data();
        QVERIFY(std::int64_t(cells->keySize()) * cells->valueSize() >= blocks);
        QVERIFY(map->xAxis->label().contains("flat grid"));
        QVERIFY(std::isfinite(cells->cell(0, 0)) && cells->cell(0, 0) > 0);

        // Selecting an MLP weight whose rows hold whole blocks gives the matrix layout.
        const QString down = QString("model.layers.%1.mlp.down_proj.weight").arg(layers - 1);
        QVERIFY(page->selectTensor(down));
        QTRY_VERIFY_WITH_TIMEOUT(detail->hasResult() && detail->result()->name == down.toStdString(), kLoadTimeoutMs);
        QCOMPARE(map->colorMap()->data()->valueSize(), cfg["hidden_size"].get<int>());
        QCOMPARE(map->colorMap()->data()->keySize(), cfg["intermediate_size"].get<int>() / 64);
        QVERIFY(map->xAxis->label().contains("along the row"));
        auto* figures = w.findChild<QTableWidget*>("variantFigures");
        for (int r = 0; r < 3; ++r)
            for (int c = 0; c < 4; ++c) QVERIFY(figures->item(r, c) && !figures->item(r, c)->text().isEmpty());

        // The table follows the selection: the selected tensor's row is current and visible.
        auto currentName = [view] { return view->model()->index(view->currentIndex().row(), 0).data().toString(); };
        QCOMPARE(currentName(), down);
        // ... and a click on a row selects that tensor.
        const QString upName = QString("model.layers.0.mlp.up_proj.weight");
        for (int r = 0; r < view->model()->rowCount(); ++r) {
            if (view->model()->index(r, 0).data().toString() != upName) continue;
            view->scrollTo(view->model()->index(r, 0));
            QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, view->visualRect(view->model()->index(r, 0)).center());
        }
        QTRY_VERIFY_WITH_TIMEOUT(detail->hasResult() && detail->result()->name == upName.toStdString(), kLoadTimeoutMs);
        QCOMPARE(currentName(), upName);
    }

    // Legends sit outside the data area, and the block map keeps one colour range whichever
    // variant it shows, at the smallest window the studio is made for and at full HD.
    void inspectorChartsReadable() {
        MainWindow w;
        w.show();
        w.showPage(MainWindow::InspectPageIndex);
        w.openModel(QString::fromStdString(llamaDir().string()));
        InspectPage* page = w.inspectPage();
        QTRY_VERIFY_WITH_TIMEOUT(page->tableReady() && page->detail()->hasResult(), kLoadTimeoutMs);
        for (const QSize size : {QSize(1024, 700), QSize(1920, 1080)}) {
            w.resize(size);
            QApplication::processEvents();
            for (QCustomPlot* plot : {static_cast<QCustomPlot*>(w.findChild<WeightHistogramPlot*>("weightHistogram")),
                                      static_cast<QCustomPlot*>(w.findChild<ErrorHistogramPlot*>("errorHistogram"))}) {
                plot->replot(QCustomPlot::rpImmediateRefresh);
                QVERIFY(plot->legend->visible());
                QVERIFY2(!plot->legend->outerRect().intersects(plot->axisRect()->rect()),
                         qPrintable(QString("%1 at %2x%3").arg(plot->objectName()).arg(size.width()).arg(size.height())));
            }
        }

        auto* map = w.findChild<BlockErrorMapPlot*>("blockErrorMap");
        auto* variant = w.findChild<QComboBox*>("mapVariant");
        const TensorInspection& r = *page->detail()->result();
        float top = 0;  // the largest block MSE of any variant, from the statistics themselves
        for (const auto& v : r.variants)
            for (float e : v.stats.block_mse) top = std::max(top, e);
        for (int i : {0, 2, 1}) {  // NF4, FP4, NF4+DQ
            variant->setCurrentIndex(i);
            QCOMPARE(map->colorMap()->dataRange().lower, 0.0);
            QCOMPARE(map->colorMap()->dataRange().upper, double(top));
        }
    }

    void inspectionRunsInBackground() {
        MainWindow w;
        w.show();
        w.openModel(QString::fromStdString(llamaDir().string()));
        InspectPage* page = w.inspectPage();
        QTRY_VERIFY_WITH_TIMEOUT(page->tableReady(), kLoadTimeoutMs);

        int ticks = 0;
        QTimer timer;
        connect(&timer, &QTimer::timeout, [&] { ++ticks; });
        timer.start(0);
        bool computed = false;
        connect(page, &InspectPage::tableComputed, [&] { computed = true; });
        page->computeTable();
        QVERIFY(!computed);  // the result cannot arrive before the event loop turns
        QVERIFY(!page->tableReady());
        QVERIFY(w.findChild<QProgressBar*>("tableProgress")->isVisibleTo(page));
        QTRY_VERIFY_WITH_TIMEOUT(computed, kLoadTimeoutMs);
        QVERIFY2(ticks > 0, "the event loop did not turn while the table was computed");
        QVERIFY(page->tableReady());

        // Cancel: whichever wins the race, the page ends idle with its buttons back.
        page->computeTable();
        page->cancelTable();
        QTRY_VERIFY_WITH_TIMEOUT(!page->tableTask()->isRunning(), kLoadTimeoutMs);
        QVERIFY(!w.findChild<QProgressBar*>("tableProgress")->isVisibleTo(page));
        QVERIFY(w.findChild<QPushButton*>("tableCompute")->isVisibleTo(page));
    }

    void blockSizeChangeRecomputes() {
        MainWindow w;
        w.show();
        w.openModel(QString::fromStdString(llamaDir().string()));
        InspectPage* page = w.inspectPage();
        QTRY_VERIFY_WITH_TIMEOUT(page->tableReady() && page->detail()->hasResult(), kLoadTimeoutMs);
        QuantSettings s = w.session()->quantSettings();
        s.blockSize = 128;
        w.session()->setQuantSettings(s);
        QTRY_VERIFY_WITH_TIMEOUT(page->tableReady() && page->tableModel()->table().blocksize == 128, kLoadTimeoutMs);
        QTRY_VERIFY_WITH_TIMEOUT(page->detail()->hasResult() && page->detail()->result()->blockSize == 128,
                                 kLoadTimeoutMs);
        QCOMPARE(QSettings().value("quant/blockSize").toInt(), 128);
        s.blockSize = 64;
        w.session()->setQuantSettings(s);
    }

    void demoModelOpens() {
        std::filesystem::path demo;
        try {
            demo = demo_model_dir();
        } catch (const IoError& e) {
            QSKIP(e.what());
        }
        const auto cfg = readConfig(demo);
        MainWindow w;
        w.show();
        w.openDemoModel();
        QTRY_VERIFY_WITH_TIMEOUT(w.session()->hasModel(), kLoadTimeoutMs);
        QCOMPARE(summary(w, "layers"), QString::number(cfg["num_hidden_layers"].get<int>()));
        QCOMPARE(summary(w, "hidden"), QString::number(cfg["hidden_size"].get<int>()));
        QTRY_VERIFY_WITH_TIMEOUT(w.inspectPage()->tableReady(), kLoadTimeoutMs);
        QCOMPARE(w.inspectPage()->tableModel()->rowCount(), 7 * cfg["num_hidden_layers"].get<int>() + 1);
        QVERIFY(QSettings().value("recentModels").toStringList().contains(QString::fromStdString(demo.string())));
    }

    void corruptModelShowsErrorAndStaysUsable() {
        test::ScratchDir dir;
        {
            std::ofstream(dir.path() / "config.json") << "{\"model_type\": \"llama\", \"hidden_size\": ";
        }
        MainWindow w;
        w.show();
        w.openModel(QString::fromStdString(dir.path().string()));
        auto* error = w.findChild<QLabel*>("modelError");
        QTRY_VERIFY_WITH_TIMEOUT(error->isVisibleTo(&w), kLoadTimeoutMs);
        QVERIFY2(error->text().contains("config.json"), qPrintable(error->text()));
        QVERIFY(!w.session()->hasModel());
        QCOMPARE(w.currentPage(), MainWindow::ModelPageIndex);

        // The window still works: a good model opens and the error goes away.
        w.openModel(QString::fromStdString(llamaDir().string()));
        QTRY_VERIFY_WITH_TIMEOUT(w.session()->hasModel(), kLoadTimeoutMs);
        QVERIFY(!error->isVisibleTo(&w));
        QCOMPARE(summary(w, "layers"), QString::number(readConfig(llamaDir())["num_hidden_layers"].get<int>()));

        // A missing path fails the same way and keeps the loaded model.
        w.openModel(QString::fromStdString((dir.path() / "nope").string()));
        QTRY_VERIFY_WITH_TIMEOUT(error->isVisibleTo(&w), kLoadTimeoutMs);
        QVERIFY(w.session()->hasModel());
    }
};

QTEST_MAIN(TestUiStudio)
#include "test_ui_studio.moc"
