// The Playground and Export pages offscreen with the demo model: streamed greedy generation
// (the text the view shows equals what core generate() returns for the same prompt), Stop,
// base vs base + adapter, a run's newest checkpoint, an adapter that does not fit; the export
// of a PEFT folder (read back), merged weights, GGUF + Modelfile and GGUF LoRA, and failures
// (a folder that cannot be written, a write cut short) that leave nothing half-written.
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QGroupBox>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QtTest>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/backend/cpu/cpu_backend.h"
#include "core/export/peft_adapter.h"
#include "core/io/gguf_reader.h"
#include "core/model/llama_generator_generate.h"
#include "core/model/llama_generator_prompt.h"
#include "core/model/lora_parameters.h"
#include "core/tokenizer/tokenizer.h"
#include "core/train/checkpoint.h"
#include "core/train/run_folder.h"
#include "core/train/train_config.h"
#include "core/util/resource_paths.h"
#include "tests/generation_test_support.h"
#include "tests/test_support.h"
#include "ui/export_page.h"
#include "ui/model_session.h"
#include "ui/playground_page.h"

using namespace qls;
using namespace qls::ui;
namespace fs = std::filesystem;

namespace {

constexpr int kTimeoutMs = 120000;
constexpr auto Base = GenerationWorker::Base;
constexpr auto Adapter = GenerationWorker::Adapter;

// A run folder as the trainer leaves it mid-run: run.json, metrics.jsonl (a training loss of
// 2.5 at step 9, a validation loss of 2.25 at step 5) and complete checkpoints.
void writeRun(const fs::path& run, const fs::path& model) {
    TrainConfig config;
    config.model = model;
    config.run_dir = run;
    fs::create_directories(run);
    std::ofstream(run / "run.json") << nlohmann::json{{"config", to_json(config)}}.dump(2);
    std::ofstream metrics(run / "metrics.jsonl");
    metrics << nlohmann::json{{"type", "eval"}, {"step", 5}, {"loss", 2.25}}.dump() << "\n";
    metrics << nlohmann::json{{"type", "step"}, {"step", 9}, {"loss", 2.5}}.dump() << "\n";
}

void writeCheckpoint(const fs::path& run, std::int64_t step, const LoraAdapter& adapter) {
    Checkpoint c;
    c.adapter = adapter;
    c.progress.step = step;
    save_checkpoint(checkpoint_dir(run, step), c);
}

// What the core generates for the page's base side, computed without the UI.
std::string coreGreedy(const Model& model, const std::string& prompt, std::int64_t maxNew) {
    CpuBackend backend;
    DeviceBaseModel base(backend, model, BaseWeightsOptions{});  // the session's defaults: NF4, dq, 64
    const Tokenizer tokenizer = load_model_tokenizer(model);
    const GenerationPrompt p = make_prompt(tokenizer, model.config, prompt, PromptMode::Chat);
    LlamaGenerator generator(backend, base, nullptr, std::int64_t(p.ids.size()) + maxNew);
    return generate(generator, tokenizer, p.ids, test::greedy(maxNew), p.stop_ids).text;
}

// `prompt` as the first message of a new conversation, so every run answers the same question.
bool runGeneration(PlaygroundPage& page, const QString& prompt) {
    QSignalSpy done(&page, &PlaygroundPage::generationFinished);
    page.newConversation();
    page.setPrompt(prompt);
    page.generate();
    return page.isGenerating() && done.wait(kTimeoutMs);
}

bool runExport(ExportPage& page) {
    QSignalSpy done(&page, &ExportPage::exportFinished);
    page.startExport();
    return page.isExporting() && done.wait(kTimeoutMs);
}

// Every path under `dir` whose name marks an atomic writer's temporary.
QStringList temporaries(const fs::path& dir) {
    QStringList found;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec))
        if (e.path().filename().string().find(".tmp-") != std::string::npos)
            found << QString::fromStdString(e.path().string());
    return found;
}

std::size_t entries(const fs::path& dir) {
    std::error_code ec;
    return std::size_t(std::distance(fs::directory_iterator(dir, ec), fs::directory_iterator()));
}

}  // namespace

class TestUiPlaygroundExport : public QObject {
    Q_OBJECT
private:
    test::ScratchDir m_scratch;
    std::unique_ptr<ModelSession> m_session;
    fs::path m_demo, m_adapterDir, m_run;
    LoraAdapter m_adapter, m_later;

private slots:
    void initTestCase() {
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope,
                           QString::fromStdString((m_scratch.path() / "settings").string()));
        QApplication::setOrganizationName("qls-test");
        QApplication::setApplicationName("test_ui_playground_export");
        m_demo = demo_model_dir();
        m_session = std::make_unique<ModelSession>();
        QSignalSpy loaded(m_session.get(), &ModelSession::modelLoaded);
        m_session->openDemo();
        QVERIFY(loaded.wait(kTimeoutMs));
        const LlamaConfig& c = m_session->model()->config;
        m_adapter = test::random_adapter(c, 1);
        m_later = test::random_adapter(c, 2);
        m_adapterDir = m_scratch.path() / "adapter";
        write_peft_adapter(m_adapter, m_adapterDir, {});
        m_run = m_scratch.path() / "run";
        writeRun(m_run, m_demo);
        writeCheckpoint(m_run, 3, m_adapter);
    }

    void streamsGreedyTokens() {
        PlaygroundPage page(m_session.get());
        page.setAdapterSource(PlaygroundPage::AdapterMode::None);
        page.setSamplingOptions(test::greedy(12));
        QList<int> counts;
        connect(&page, &PlaygroundPage::outputStreamed, this, [&](GenerationWorker::Side side, int tokens) {
            if (side == Base) counts << tokens;
        });
        QVERIFY(runGeneration(page, "Reverse the word: garden"));
        QVERIFY(!counts.isEmpty());
        for (int i = 1; i < counts.size(); ++i) QVERIFY2(counts[i] > counts[i - 1], "counts must grow");
        QCOMPARE(counts.last(), page.tokenCount(Base));
        QVERIFY(page.tokenCount(Base) >= 1 && page.tokenCount(Base) <= 12);
        QVERIFY2(counts.size() >= 2, "the view should update while generating, not only at the end");
        QCOMPARE(page.outputText(Base).toStdString(), coreGreedy(*m_session->model(), "Reverse the word: garden", 12));
        QVERIFY(page.errorText(Base).isEmpty());
        QVERIFY(page.findChild<QLabel*>("adapterStats")->text().contains("No adapter"));
    }

    void stopCancelsBothSides() {
        PlaygroundPage page(m_session.get());
        page.setAdapterSource(PlaygroundPage::AdapterMode::PeftFolder, QString::fromStdString(m_adapterDir.string()));
        QVERIFY(page.setFormatting(std::nullopt));  // plain text: the model continues it
        SamplingOptions o;
        o.temperature = 1.0f;  // sampled: no early end-of-reply to race the Stop
        o.max_new_tokens = 400;
        o.seed = 7;
        page.setSamplingOptions(o);
        connect(&page, &PlaygroundPage::outputStreamed, &page, &PlaygroundPage::stop);
        QVERIFY(runGeneration(page, "Once upon a time"));
        for (auto side : {Base, Adapter}) {
            QVERIFY2(page.tokenCount(side) < 400, qPrintable(QString::number(page.tokenCount(side))));
            const QString stats = page.findChild<QLabel*>(side == Base ? "baseStats" : "adapterStats")->text();
            QVERIFY2(stats.contains("stopped", Qt::CaseInsensitive), qPrintable(stats));
        }
        QVERIFY(!page.isGenerating());
        QVERIFY(page.findChild<QPushButton*>("generate")->isEnabled());
    }

    void adapterChangesTheOutput() {
        PlaygroundPage page(m_session.get());
        page.setAdapterSource(PlaygroundPage::AdapterMode::PeftFolder, QString::fromStdString(m_adapterDir.string()));
        page.setSamplingOptions(test::greedy(16));
        QVERIFY(runGeneration(page, "Reverse the word: garden"));
        QVERIFY2(page.errorText(Adapter).isEmpty(), qPrintable(page.errorText(Adapter)));
        QVERIFY(page.tokenCount(Adapter) > 0);
        QVERIFY(page.outputText(Base) != page.outputText(Adapter));
        const QString withFolder = page.outputText(Adapter);

        // The run's newest checkpoint holds the same adapter: the same answer.
        page.setAdapterSource(PlaygroundPage::AdapterMode::RunLatestCheckpoint, QString::fromStdString(m_run.string()));
        QVERIFY2(page.adapterStatus().contains("step 3"), qPrintable(page.adapterStatus()));
        QVERIFY(runGeneration(page, "Reverse the word: garden"));
        QCOMPARE(page.outputText(Adapter), withFolder);
        QVERIFY(page.findChildren<QGroupBox*>().size() >= 2);

        // A newer checkpoint (as a training run writes it) is picked up by Refresh and Generate.
        writeCheckpoint(m_run, 7, m_later);
        page.refreshAdapter();
        QVERIFY2(page.adapterStatus().contains("step 7"), qPrintable(page.adapterStatus()));
        QVERIFY(runGeneration(page, "Reverse the word: garden"));
        QVERIFY(page.outputText(Adapter) != withFolder);
    }

    void adapterThatDoesNotFitIsReportedInline() {
        const fs::path wrong = m_scratch.path() / "wrong-adapter";
        write_peft_adapter(test::random_adapter(m_session->model()->config, 3, 2), wrong, {});
        PlaygroundPage page(m_session.get());
        page.setAdapterSource(PlaygroundPage::AdapterMode::PeftFolder, QString::fromStdString(wrong.string()));
        page.setSamplingOptions(test::greedy(4));
        QVERIFY(runGeneration(page, "Hi"));
        QVERIFY2(page.errorText(Adapter).contains("LoRA module"), qPrintable(page.errorText(Adapter)));
        QVERIFY(page.errorText(Base).isEmpty());
        QVERIFY(page.tokenCount(Base) > 0);
    }

    void exportsEveryOutput() {
        ExportPage page(m_session.get());
        page.setAdapterFolder(QString::fromStdString(m_adapterDir.string()), QString::fromStdString(m_demo.string()));
        QCOMPARE(page.destination().toStdString(), (m_scratch.path() / "adapter-export").string());
        const fs::path out = m_scratch.path() / "out";
        page.setDestination(QString::fromStdString(out.string()));
        page.setOutputs({true, true, true, true, GgmlType::F16, std::nullopt, false});
        QVERIFY(runExport(page));
        QVERIFY2(!page.lastExportFailed(), qPrintable(page.message()));
        QVERIFY(page.message().contains("Exported"));

        const LoraAdapter back = read_peft_adapter(out / "peft-adapter");
        QCOMPARE(back.config.rank, m_adapter.config.rank);
        QCOMPARE(back.config.alpha, m_adapter.config.alpha);
        QCOMPARE(back.modules.size(), m_adapter.modules.size());
        for (const auto& [name, pair] : m_adapter.modules) {
            QVERIFY(back.modules.at(name).a == pair.a);
            QVERIFY(back.modules.at(name).b == pair.b);
        }
        QVERIFY(fs::exists(out / "merged-bf16" / "model.safetensors"));
        QVERIFY(fs::exists(out / "merged-bf16" / "config.json"));
        QVERIFY(fs::exists(out / "merged-bf16" / "tokenizer.json"));
        const fs::path gguf = out / "gguf" / "model-f16.gguf";
        std::ifstream in(gguf, std::ios::binary);
        char magic[4] = {};
        in.read(magic, 4);
        QCOMPARE(std::string(magic, 4), std::string("GGUF"));
        std::ifstream modelfile(out / "gguf" / "model-f16.Modelfile");
        const std::string text((std::istreambuf_iterator<char>(modelfile)), {});
        QVERIFY2(text.find("FROM ./model-f16.gguf") != std::string::npos, text.c_str());
        QVERIFY(fs::exists(out / "gguf-lora" / "model-lora.gguf"));
        QVERIFY(fs::exists(out / "gguf-lora" / "model-base-f16.gguf"));  // what --lora loads onto

        const QStringList files = page.writtenFiles();
        for (const char* f : {"peft-adapter/adapter_config.json", "peft-adapter/adapter_model.safetensors",
                              "peft-adapter/README.md", "merged-bf16/model.safetensors", "gguf/model-f16.gguf",
                              "gguf/model-f16.Modelfile", "gguf-lora/model-lora.gguf", "gguf-lora/model-base-f16.gguf"})
            QVERIFY2(files.contains(f), f);
        QVERIFY(temporaries(out).isEmpty());
    }

    void exportsARunsNewestAdapter() {
        writeCheckpoint(m_run, 9, m_later);  // no final adapter: the newest checkpoint is exported
        ExportPage page(m_session.get());
        page.setRunFolder(QString::fromStdString(m_run.string()));
        // Beside the run, never inside it.
        const fs::path dest = m_run.parent_path() / (m_run.filename().string() + "-export");
        QCOMPARE(page.destination().toStdString(), dest.string());
        QCOMPARE(page.findChild<QComboBox*>("exportMergeOnto")->currentIndex(), 0);  // the run's NF4 base
        QVERIFY(runExport(page));
        QVERIFY2(!page.lastExportFailed(), qPrintable(page.message()));
        const LoraAdapter back = read_peft_adapter(dest / "peft-adapter");
        QVERIFY(back.modules.at(lora_module_name(0, LoraTarget::Q)).b == m_later.modules.at(lora_module_name(0, LoraTarget::Q)).b);
        QCOMPARE(page.writtenFiles().size(), 3);
        // The model card states the losses the run measured, as `qlora export` writes it.
        std::ifstream readme(dest / "peft-adapter" / "README.md");
        const std::string card((std::istreambuf_iterator<char>(readme)), {});
        QVERIFY2(card.find("2.5") != std::string::npos && card.find("2.25") != std::string::npos, card.c_str());
    }

    // The axolotl hand-off is offered for a run folder only, and writes axolotl/ beside the
    // other outputs: its config names the run's base and rank.
    void exportsTheRunForAxolotl() {
        const fs::path run = m_scratch.path() / "axolotl-run";
        TrainConfig config;
        config.model = m_demo;
        config.run_dir = run;
        config.data.path = test::source_dir() / "resources" / "demo" / "data" / "pirate_fortunes_train.jsonl";
        config.lora.rank = 8;
        fs::create_directories(run);
        std::ofstream(run / "run.json") << nlohmann::json{{"config", to_json(config)},
                                                          {"dataset_fingerprint", fingerprint(config.data.path)}}
                                               .dump(2);
        writeCheckpoint(run, 3, m_adapter);

        ExportPage page(m_session.get());
        auto* axolotl = page.findChild<QCheckBox*>("exportAxolotl");
        page.setAdapterFolder(QString::fromStdString(m_adapterDir.string()), QString::fromStdString(m_demo.string()));
        QVERIFY(!axolotl->isEnabled());  // a bare adapter has no run settings to hand over
        page.setRunFolder(QString::fromStdString(run.string()));
        QVERIFY(axolotl->isEnabled());
        const fs::path dest = m_scratch.path() / "axolotl-export";
        page.setDestination(QString::fromStdString(dest.string()));
        page.setOutputs({false, false, false, false, GgmlType::F16, std::nullopt, true});
        QVERIFY(runExport(page));
        QVERIFY2(!page.lastExportFailed(), qPrintable(page.message()));
        for (const char* f : {"config.yml", "train.jsonl", "README.md"}) QVERIFY2(fs::is_regular_file(dest / "axolotl" / f), f);
        std::ifstream in(dest / "axolotl" / "config.yml");
        const std::string yml((std::istreambuf_iterator<char>(in)), {});
        QVERIFY2(yml.find("lora_r: 8") != std::string::npos, yml.c_str());
        QVERIFY2(yml.find(m_demo.string()) != std::string::npos, yml.c_str());
    }

    void exportAsksBeforeWritingIntoSomeonesFolder() {
        const fs::path dest = m_scratch.path() / "someones";
        fs::create_directories(dest / "peft-adapter");
        std::ofstream(dest / "peft-adapter" / "notes.txt") << "mine";
        ExportPage page(m_session.get());
        page.setRunFolder(QString::fromStdString(m_run.string()));
        page.setDestination(QString::fromStdString(dest.string()));
        QString asked;
        bool replace = false;
        page.setReplaceQuestion([&](const QString& why) {
            asked = why;
            return replace;
        });
        QVERIFY(runExport(page));
        QVERIFY(page.lastExportFailed());
        QVERIFY2(asked.contains("is not empty ('notes.txt')"), qPrintable(asked));
        QVERIFY(!fs::exists(dest / "peft-adapter" / "adapter_config.json"));
        replace = true;
        asked.clear();
        QSignalSpy done(&page, &ExportPage::exportFinished);
        page.startExport();
        while (done.count() < 2) QVERIFY(done.wait(kTimeoutMs));  // refused, asked, then forced
        QVERIFY(!asked.isEmpty());
        QVERIFY2(!page.lastExportFailed(), qPrintable(page.message()));
        QVERIFY(fs::exists(dest / "peft-adapter" / "adapter_config.json"));
        std::ifstream in(dest / "peft-adapter" / "notes.txt");
        QCOMPARE(std::string(std::istreambuf_iterator<char>(in), {}), std::string("mine"));
        // The run folder itself is refused without a question.
        page.setDestination(QString::fromStdString(m_run.string()));
        asked.clear();
        QVERIFY(runExport(page));
        QVERIFY(page.lastExportFailed());
        QVERIFY(asked.isEmpty());
        QVERIFY2(page.message().contains("which this export reads from"), qPrintable(page.message()));
    }

    void exportIntoUnwritableFolderFails() {
        // A read-only folder stops everyone but root, for whom a folder inside a plain file
        // (ENOTDIR) stands in: both fail before anything can be written.
        const fs::path readOnly = m_scratch.path() / "read-only";
        fs::create_directories(readOnly);
        fs::permissions(readOnly, fs::perms::owner_read | fs::perms::owner_exec);
        fs::path dest = readOnly / "out";
        if (::geteuid() == 0) {
            std::ofstream(m_scratch.path() / "plain-file") << "x";
            dest = m_scratch.path() / "plain-file" / "out";
        }
        ExportPage page(m_session.get());
        page.setAdapterFolder(QString::fromStdString(m_adapterDir.string()), QString::fromStdString(m_demo.string()));
        page.setDestination(QString::fromStdString(dest.string()));
        page.setOutputs({true, false, true, false, GgmlType::F16, std::nullopt, false});
        QVERIFY(runExport(page));
        fs::permissions(readOnly, fs::perms::owner_all);
        QVERIFY(page.lastExportFailed());
        QVERIFY2(page.message().contains("could not be written") && page.message().contains("Nothing was written"),
                 qPrintable(page.message()));
        QVERIFY(page.writtenFiles().isEmpty());
        QCOMPARE(entries(readOnly), std::size_t(0));
    }

    // A llama.cpp mix picked in exportGgufType names the file after it and writes its file type.
    void exportGgufQuantMix() {
        const fs::path out = m_scratch.path() / "q4km";
        ExportPage page(m_session.get());
        page.setAdapterFolder(QString::fromStdString(m_adapterDir.string()), QString::fromStdString(m_demo.string()));
        page.setDestination(QString::fromStdString(out.string()));
        auto* type = page.findChild<QComboBox*>("exportGgufType");
        QVERIFY(type);
        type->setCurrentIndex(type->findText("Q4_K_M (llama.cpp mix)"));
        page.setOutputs({false, false, true, false, page.outputs().ggufType, page.outputs().ggufMix, false});
        QVERIFY(page.outputs().ggufMix == GgufQuantMix::Q4_K_M);
        QVERIFY(runExport(page));
        QVERIFY2(!page.lastExportFailed(), qPrintable(page.message()));
        fs::path gguf;
        for (const auto& e : fs::directory_iterator(out / "gguf"))
            if (e.path().extension() == ".gguf") gguf = e.path();
        QVERIFY2(gguf.filename().string().ends_with("-q4_k_m.gguf"), gguf.c_str());
        QCOMPARE(*GgufFile(gguf).get_u32("general.file_type"), 15u);
    }

    void exportCutShortLeavesNothingHalfWritten() {
        // A file size limit makes writes fail partway, as a full disk does: the PEFT folder
        // (about 220 KB) fits, the merged GGUF (about 3 MB) does not.
        const fs::path out = m_scratch.path() / "full";
        ExportPage page(m_session.get());
        page.setAdapterFolder(QString::fromStdString(m_adapterDir.string()), QString::fromStdString(m_demo.string()));
        page.setDestination(QString::fromStdString(out.string()));
        page.setOutputs({true, false, true, false, GgmlType::F16, std::nullopt, false});
        rlimit old{};
        QCOMPARE(::getrlimit(RLIMIT_FSIZE, &old), 0);
        const auto previousHandler = ::signal(SIGXFSZ, SIG_IGN);
        rlimit small = old;
        small.rlim_cur = 512 * 1024;
        QCOMPARE(::setrlimit(RLIMIT_FSIZE, &small), 0);
        const bool finished = runExport(page);
        ::setrlimit(RLIMIT_FSIZE, &old);
        ::signal(SIGXFSZ, previousHandler);
        QVERIFY(finished);
        QVERIFY(page.lastExportFailed());
        QVERIFY2(page.message().contains("merged GGUF could not be written"), qPrintable(page.message()));
        QVERIFY2(page.message().contains("disk space"), qPrintable(page.message()));
        QCOMPARE(page.writtenFiles().size(), 3);  // the PEFT folder, complete
        QVERIFY(read_peft_adapter(out / "peft-adapter").modules.size() == m_adapter.modules.size());
        QVERIFY(!fs::exists(out / "gguf"));  // created for the GGUF, removed when it failed
        QVERIFY2(temporaries(out).isEmpty(), qPrintable(temporaries(out).join(", ")));
        QCOMPARE(entries(out), std::size_t(1));
    }

    // QLS_SHOT_DIR=/some/dir: both pages after a generation and an export, as PNG, to look at.
    void screenshots() {
        const QByteArray dir = qgetenv("QLS_SHOT_DIR");
        if (dir.isEmpty()) QSKIP("set QLS_SHOT_DIR to write the screenshots");
        const fs::path shots = dir.toStdString();
        fs::create_directories(shots);
        PlaygroundPage playground(m_session.get());
        playground.resize(1280, 820);
        playground.show();
        playground.setAdapterSource(PlaygroundPage::AdapterMode::RunLatestCheckpoint, QString::fromStdString(m_run.string()));
        playground.setSamplingOptions(test::greedy(48));
        QVERIFY(runGeneration(playground, "Reverse the word: garden"));
        QVERIFY(playground.grab().save(QString::fromStdString((shots / "playground.png").string())));
        playground.setAdapterSource(PlaygroundPage::AdapterMode::PeftFolder,
                                    QString::fromStdString((m_scratch.path() / "wrong-adapter").string()));
        QVERIFY(runGeneration(playground, "Reverse the word: garden"));
        QVERIFY(playground.grab().save(QString::fromStdString((shots / "playground-error.png").string())));

        ExportPage exporter(m_session.get());
        exporter.resize(1280, 820);
        exporter.show();
        exporter.setRunFolder(QString::fromStdString(m_run.string()));
        exporter.setOutputs({true, false, true, true, GgmlType::Q8_0, std::nullopt, false});
        QVERIFY(runExport(exporter));
        QVERIFY(exporter.grab().save(QString::fromStdString((shots / "export.png").string())));

        std::ofstream(m_scratch.path() / "not-a-folder") << "x";
        exporter.setDestination(QString::fromStdString((m_scratch.path() / "not-a-folder" / "export").string()));
        QVERIFY(runExport(exporter));
        QVERIFY(exporter.lastExportFailed());
        QVERIFY(exporter.grab().save(QString::fromStdString((shots / "export-failed.png").string())));
    }
};

QTEST_MAIN(TestUiPlaygroundExport)
#include "test_ui_playground_export.moc"
