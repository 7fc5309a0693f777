// The studio's Hugging Face parts against FakeHub: opening a model by ID downloads it in the
// background and loads its snapshot; the Export page's Push to Hub uploads the adapter and
// refuses without a token.
#include <QApplication>
#include <QLabel>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>
#include <fstream>

#include "tests/fake_hub_server.h"
#include "ui/export_page.h"
#include "ui/model_session.h"

namespace fs = std::filesystem;
using namespace qls;
using namespace qls::ui;

namespace {

constexpr int kTimeoutMs = 60000;
const QString kModelDir = QStringLiteral(QLS_SHARED_DIR "/fixtures/ref/models/llama3-tiny");

void write_file(const fs::path& p, const QByteArray& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.constData(), bytes.size());
}

}  // namespace

class TestUiHub : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    FakeHub m_hub;

private slots:
    void initTestCase() {
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, m_dir.path() + "/settings");
        QApplication::setOrganizationName("qls-test");
        QApplication::setApplicationName("test_ui_hub");
        m_hub.source_dir = kModelDir;
        m_hub.files = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                       "model.safetensors"};
        m_hub.start_serving();
        qputenv("HF_HOME", (m_dir.path() + "/hf").toUtf8());
        qputenv("HF_ENDPOINT", m_hub.endpoint().toUtf8());
        qputenv("HF_TOKEN", m_hub.token);
        qunsetenv("HF_HUB_CACHE");
    }

    void opens_a_model_by_hub_id() {
        ModelSession session;
        QSignalSpy loaded(&session, &ModelSession::modelLoaded);
        QSignalSpy progressed(session.loader(), &BackgroundTask::progressed);
        session.openFromHub("https://huggingface.co/test-org/tiny-llama");
        QVERIFY(loaded.wait(kTimeoutMs));
        QVERIFY(progressed.count() > 0);
        const fs::path snapshot = fs::path(m_dir.path().toStdString()) / "hf" / "hub" /
                                  "models--test-org--tiny-llama" / "snapshots" / m_hub.commit.toStdString();
        QCOMPARE(session.model()->path, snapshot);
        QCOMPARE(session.model()->config.num_layers, std::int64_t(3));
        QCOMPARE(session.displayName(), QString("test-org/tiny-llama"));
    }

    void a_bad_reference_fails_at_once() {
        ModelSession session;
        QSignalSpy failed(&session, &ModelSession::loadFailed);
        m_hub.clear_log();
        session.openFromHub("not a model");
        QCOMPARE(failed.count(), 1);
        QVERIFY(failed.first().at(1).toString().contains("ORG/NAME"));
        QCOMPARE(m_hub.log().size(), 0);
    }

    void pushes_the_adapter_from_the_export_page() {
        const fs::path adapter = fs::path(m_dir.path().toStdString()) / "adapter";
        QFile weights(kModelDir + "/model.safetensors");
        QVERIFY(weights.open(QIODevice::ReadOnly));
        write_file(adapter / "adapter_model.safetensors", weights.readAll());
        write_file(adapter / "adapter_config.json", R"({"peft_type": "LORA", "r": 8})");
        write_file(adapter / "README.md", "# adapter\n");
        ModelSession session;
        ExportPage page(&session);
        page.setAdapterFolder(QString::fromStdString(adapter.string()));
        QCOMPARE(page.pushSource(), adapter);
        QString asked;
        page.setRepoQuestion([&](const QString& what) {
            asked = what;
            return QStringLiteral("someone/ui-adapter");
        });
        QSignalSpy done(&page, &ExportPage::exportFinished);
        page.pushToHub();
        QVERIFY(done.wait(kTimeoutMs));
        QVERIFY2(!page.lastExportFailed(), qPrintable(page.message()));
        QCOMPARE(asked, QString::fromStdString(adapter.string()));
        QVERIFY(page.message().contains("Pushed"));
        const auto committed = m_hub.committed();
        QCOMPARE(committed.size(), 3);
        QCOMPARE(committed["README.md"], QByteArray("# adapter\n"));
    }

    void push_refuses_without_a_token() {
        qunsetenv("HF_TOKEN");
        const fs::path adapter = fs::path(m_dir.path().toStdString()) / "adapter";
        ModelSession session;
        ExportPage page(&session);
        page.setAdapterFolder(QString::fromStdString(adapter.string()));
        bool asked = false;
        page.setRepoQuestion([&](const QString&) {
            asked = true;
            return QStringLiteral("someone/ui-adapter");
        });
        m_hub.clear_log();
        page.pushToHub();
        QVERIFY(!page.isExporting());
        QVERIFY(!asked);
        QVERIFY(page.lastExportFailed());
        QVERIFY(page.message().contains("token"));
        QCOMPARE(m_hub.log().size(), 0);
        qputenv("HF_TOKEN", m_hub.token);
    }
};

QTEST_MAIN(TestUiHub)
#include "test_ui_hub.moc"
