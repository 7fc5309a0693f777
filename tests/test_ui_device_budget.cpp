// The Hyperparameters page on a stand-in GPU with no device size set: the estimate's verdict is
// against the device's free memory and says whose, and the fit buttons take it as the size; on
// the CPU neither. The stand-in is registered in this executable alone: the registry is
// process-wide.
#include <QApplication>
#include <QCheckBox>
#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QtTest>

#include "core/backend/backend_registry.h"
#include "core/backend/cpu/cpu_backend.h"
#include "core/inspect/weight_memory.h"
#include "tests/fake_gpu.h"
#include "tests/test_support.h"
#include "ui/hparams_page.h"
#include "ui/main_window.h"
#include "ui/model_page.h"
#include "ui/model_session.h"
#include "ui/ui_format.h"

using namespace qls;
using namespace qls::ui;

namespace {

constexpr int kLoadTimeoutMs = 60000;

}  // namespace

class TestUiDeviceBudget : public QObject {
    Q_OBJECT
private slots:
    // 1.5 GiB free of 24 GiB.
    void initTestCase() { test::register_fake_gpu([] { return std::int64_t{3} << 29; }, std::int64_t{24} << 30); }

    void verdictAgainstFreeMemory() {
        MainWindow w;
        w.show();
        w.openModel(QString::fromStdString((test::ref_dir() / "models" / "llama3-tiny").string()));
        QTRY_VERIFY_WITH_TIMEOUT(w.session()->layout() != nullptr, kLoadTimeoutMs);
        HparamsPage* hp = w.hparamsPage();
        TrainConfig c = hp->config();
        c.device_limit_bytes = 0;
        c.device = "auto";  // takes the stand-in, as make_backend does
        hp->setConfig(c);
        const QString against = QStringLiteral(" (against 1.50 GiB free of 24.00 GiB on Fake GPU (cuda:0))");
        QTRY_VERIFY_WITH_TIMEOUT(hp->estimateVerdict()->text().contains(against), 5000);
        QVERIFY2(hp->estimateVerdict()->text().startsWith("fits"), qPrintable(hp->estimateVerdict()->text()));
        QVERIFY(hp->fitMicroBatchButton()->isEnabled());
        QVERIFY(hp->fitSeqLenButton()->isEnabled());

        c.device = "cpu";  // no device memory, and no size set: nothing to plan against
        hp->setConfig(c);
        QTRY_VERIFY_WITH_TIMEOUT(!hp->fitMicroBatchButton()->isEnabled(), 5000);
        QVERIFY(!hp->fitSeqLenButton()->isEnabled());
        QVERIFY2(!hp->estimateVerdict()->text().contains("against"),
                 qPrintable(hp->estimateVerdict()->text()));

        c.device = "cuda";
        c.device_limit_bytes = std::int64_t{1} << 30;  // a set size wins: the verdict is against it
        hp->setConfig(c);
        QTRY_VERIFY_WITH_TIMEOUT(hp->estimateVerdict()->text().contains("of 1.00 GiB"), 5000);
        QVERIFY2(!hp->estimateVerdict()->text().contains("against"),
                 qPrintable(hp->estimateVerdict()->text()));
        QVERIFY(hp->fitMicroBatchButton()->isEnabled());
    }

    // The Model page's weight-memory verdict for the detected GPU is against what is free on it
    // now, not its marketed size: each scheme fits or not by the free bytes.
    void modelPageVerdictAgainstFreeMemory() {
        MainWindow w;
        w.show();
        w.openModel(QString::fromStdString((test::ref_dir() / "models" / "llama3-tiny").string()));
        QTRY_VERIFY_WITH_TIMEOUT(w.session()->layout() != nullptr, kLoadTimeoutMs);
        ModelPage* page = w.modelPage();
        QTableWidget* table = page->memoryTable();
        QTRY_VERIFY_WITH_TIMEOUT(table->rowCount() > 1, kLoadTimeoutMs);
        // Free memory between the smallest and the largest scheme's bytes (the rows' own figures).
        std::vector<double> totals;
        for (const WeightMemory& m : weight_memory_all(w.session()->report().config, w.session()->quantSettings().blockSize))
            totals.push_back(double(m.total_bytes()));
        QCOMPARE(int(totals.size()), table->rowCount());
        const auto [low, high] = std::minmax_element(totals.begin(), totals.end());
        QVERIFY(*low < *high);
        DeviceStatus gpu;
        gpu.cuda = true;
        gpu.name = QStringLiteral("Fake GPU");
        gpu.totalBytes = std::uint64_t{24} << 30;
        gpu.freeBytes = std::uint64_t((*low + *high) / 2);
        page->findChild<QCheckBox*>("useDetectedGpu")->setChecked(true);
        page->setDeviceStatus(gpu);
        QCOMPARE(table->horizontalHeaderItem(5)->text(),
                 QStringLiteral("Fits in %1?").arg(formatBytes(double(gpu.freeBytes))));
        for (int r = 0; r < table->rowCount(); ++r) {
            const bool fits = totals[std::size_t(r)] <= double(gpu.freeBytes);
            QVERIFY2(table->item(r, 5)->text().startsWith(fits ? QStringLiteral("✓") : QStringLiteral("✗")),
                     qPrintable(table->item(r, 5)->text()));
        }
    }
};

QTEST_MAIN(TestUiDeviceBudget)
#include "test_ui_device_budget.moc"
