// The Playground's conversation offscreen with the demo model: two turns with a system prompt,
// each side answering from its own history (the base side's replies equal core generation from
// the same multi-turn prompt), Regenerate, Copy (the clipboard's text), New conversation, the
// chat template and next prompts shown on request, the oldest exchanges left out (and said so)
// when the context is full, a message too long for the context refused, plain-text formatting.
#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QLabel>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSplitter>
#include <QtTest>
#include <random>

#include "core/backend/cpu/cpu_backend.h"
#include "core/export/peft_adapter.h"
#include "core/model/chat_prompt_builder.h"
#include "core/model/llama_generator_generate.h"
#include "core/model/shared_base.h"
#include "core/tokenizer/tokenizer.h"
#include "core/train/trainer.h"
#include "tests/generation_test_support.h"
#include "tests/test_support.h"
#include "ui/chat_template_view.h"
#include "ui/chat_transcript.h"
#include "ui/generation_engine.h"
#include "ui/model_session.h"
#include "ui/playground_page.h"

using namespace qls;
using namespace qls::ui;
namespace fs = std::filesystem;

namespace {

constexpr int kTimeoutMs = 120000;
constexpr auto Base = GenerationWorker::Base;
constexpr auto Adapter = GenerationWorker::Adapter;
using Kind = ChatTranscript::Block::Kind;

bool send(PlaygroundPage& page, const QString& message) {
    QSignalSpy done(&page, &PlaygroundPage::generationFinished);
    page.setPrompt(message);
    page.generate();
    return page.isGenerating() && done.wait(kTimeoutMs);
}

bool regenerate(PlaygroundPage& page) {
    QSignalSpy done(&page, &PlaygroundPage::generationFinished);
    page.regenerate();
    return page.isGenerating() && done.wait(kTimeoutMs);
}

QList<Kind> kinds(const PlaygroundPage& page, GenerationWorker::Side side) {
    QList<Kind> out;
    const auto* transcript = page.findChild<ChatTranscript*>(side == Base ? "baseTranscript" : "adapterTranscript");
    for (const ChatTranscript::Block& b : transcript->blocks()) out << b.kind;
    return out;
}

}  // namespace

class TestUiPlayground : public QObject {
    Q_OBJECT
private:
    test::ScratchDir m_scratch;
    std::unique_ptr<ModelSession> m_session;
    fs::path m_adapterDir;

    // What the core generates greedily for the base side from this conversation.
    std::string coreReply(const ChatRequest& request) {
        const Model& model = *m_session->model();
        CpuBackend backend;
        DeviceBaseModel base(backend, model, BaseWeightsOptions{});  // the session's defaults: NF4, dq, 64
        const Tokenizer tokenizer = load_model_tokenizer(model);
        const ChatPrompt p = ChatPromptBuilder(tokenizer, model.config, TemplateKind::ModelTemplate).build(request);
        LlamaGenerator generator(backend, base, nullptr, std::int64_t(p.prompt.ids.size()) + request.max_new_tokens);
        return generate(generator, tokenizer, p.prompt.ids, test::greedy(request.max_new_tokens), p.prompt.stop_ids).text;
    }

private slots:
    void initTestCase() {
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope,
                           QString::fromStdString((m_scratch.path() / "settings").string()));
        QApplication::setOrganizationName("qls-test");
        QApplication::setApplicationName("test_ui_playground");
        m_session = std::make_unique<ModelSession>();
        QSignalSpy loaded(m_session.get(), &ModelSession::modelLoaded);
        m_session->openDemo();
        QVERIFY(loaded.wait(kTimeoutMs));
        m_adapterDir = m_scratch.path() / "adapter";
        write_peft_adapter(test::random_adapter(m_session->model()->config, 11), m_adapterDir, {});
    }

    void conversationKeepsEachSidesHistory() {
        PlaygroundPage page(m_session.get());
        QCOMPARE(page.formatting(), ChatTemplateChoice(TemplateKind::ModelTemplate));
        QVERIFY2(page.formattingNote().contains("model's own chat template"), qPrintable(page.formattingNote()));
        QVERIFY(page.systemPrompt().isEmpty());  // the demo template has no default
        page.setAdapterSource(PlaygroundPage::AdapterMode::PeftFolder, QString::fromStdString(m_adapterDir.string()));
        page.setSystemPrompt("Speak like a pirate.");
        page.setSamplingOptions(test::greedy(16));

        QVERIFY(send(page, "Tell me a fortune about love."));
        QCOMPARE(page.turnCount(), 1);
        const QString base1 = page.outputText(Base), adapter1 = page.outputText(Adapter);
        QVERIFY(!base1.isEmpty() && !adapter1.isEmpty());
        QVERIFY(base1 != adapter1);
        ChatRequest request{"Speak like a pirate.", {}, "Tell me a fortune about love.", 16, 512};
        QCOMPARE(base1.toStdString(), coreReply(request));

        QVERIFY(send(page, "And about the sea?"));
        QCOMPARE(page.turnCount(), 2);
        // The second reply follows the base side's own first reply.
        request.history = {{"Tell me a fortune about love.", base1.toStdString()}};
        request.message = "And about the sea?";
        const QString base2 = page.outputText(Base);
        QCOMPARE(base2.toStdString(), coreReply(request));
        const QList<Kind> expected = {Kind::System, Kind::User, Kind::Reply, Kind::User, Kind::Reply};
        QCOMPARE(kinds(page, Base), expected);
        QCOMPARE(kinds(page, Adapter), expected);
        QVERIFY(page.errorText(Base).isEmpty() && page.errorText(Adapter).isEmpty());

        // The template and each side's next prompt, on request: the adapter side's holds its own replies.
        page.setTemplateShown(true);
        QVERIFY(!page.templateView()->isHidden());
        QVERIFY(page.findChild<QCheckBox*>("showTemplate")->isChecked());
        QCOMPARE(page.templateView()->sourceText().toStdString(), load_model_tokenizer(*m_session->model()).chat_template());
        page.setPrompt("One more, about gold.");
        QTRY_VERIFY(page.templateView()->nextPromptText(0).contains("One more, about gold."));
        const QString nextBase = page.templateView()->nextPromptText(0), nextAdapter = page.templateView()->nextPromptText(1);
        QVERIFY(nextBase.startsWith("<|endoftext|><|im_start|>system\nSpeak like a pirate.<|im_end|>\n"));
        QVERIFY(nextBase.contains(base1) && nextBase.contains(base2));
        QVERIFY(nextAdapter.contains(adapter1) && !nextAdapter.contains(base1));
        QVERIFY(nextBase.endsWith("<|im_start|>assistant\n"));

        // Copy: this side's whole conversation as text.
        page.findChild<QPushButton*>("baseCopy")->click();
        QCOMPARE(QApplication::clipboard()->text(),
                 "System:\nSpeak like a pirate.\n\nUser:\nTell me a fortune about love.\n\nAssistant:\n" + base1 +
                     "\n\nUser:\nAnd about the sea?\n\nAssistant:\n" + base2);

        // Regenerate: the last replies again from the same history (greedy: the same text).
        QVERIFY(regenerate(page));
        QCOMPARE(page.turnCount(), 2);
        QCOMPARE(page.outputText(Base), base2);
        QCOMPARE(kinds(page, Base), expected);
        // With sampling it draws with the next seed.
        SamplingOptions sampled = test::greedy(16);
        sampled.temperature = 1.0f;
        sampled.seed = 5;
        page.setSamplingOptions(sampled);
        QVERIFY(regenerate(page));
        QCOMPARE(page.samplingOptions().seed, std::uint64_t(6));
        QCOMPARE(page.turnCount(), 2);

        // New conversation: the turns go, the system prompt stays.
        page.findChild<QPushButton*>("newConversation")->click();
        QCOMPARE(page.turnCount(), 0);
        QCOMPARE(kinds(page, Base), QList<Kind>{Kind::System});
        QCOMPARE(page.systemPrompt(), QString("Speak like a pirate."));
        QVERIFY(!page.findChild<QPushButton*>("regenerate")->isEnabled());
        QVERIFY(!page.findChild<QPushButton*>("baseCopy")->isEnabled());
    }

    void fullContextDropsTheOldestExchanges() {
        PlaygroundPage page(m_session.get());
        page.setSystemPrompt("Speak like a pirate.");
        // 440 of the demo's 512 tokens go to the reply: the prompt keeps about 70.
        page.setSamplingOptions(test::greedy(440));
        const QString messages[] = {"Tell me a fortune about love and about the sea, matey.",
                                    "And now one about gold, silver and the stars over the sea.",
                                    "One last fortune about ships, storms and the harbour."};
        for (const QString& m : messages) QVERIFY(send(page, m));
        QVERIFY(page.errorText(Base).isEmpty());
        const auto* transcript = page.findChild<ChatTranscript*>("baseTranscript");
        QStringList notes;
        for (const ChatTranscript::Block& b : transcript->blocks())
            if (b.kind == Kind::Note) notes << b.text;
        QVERIFY2(!notes.isEmpty() && notes.last().contains("left out of the prompt"), qPrintable(notes.join(" | ")));
        QVERIFY(notes.last().contains("context of 512 tokens"));
        QCOMPARE(page.turnCount(), 3);

        // A message that cannot fit even alone is refused, and the conversation stays as it was.
        page.setSamplingOptions(test::greedy(505));
        page.setPrompt("Tell me a fortune about love and about the sea, matey.");
        page.generate();
        QVERIFY(!page.isGenerating());
        QCOMPARE(page.turnCount(), 3);
        const QString error = page.findChild<QLabel*>("playgroundError")->text();
        QVERIFY2(error.contains("exceed the model's context of 512 tokens"), qPrintable(error));
    }

    void plainTextFormatting() {
        PlaygroundPage page(m_session.get());
        QVERIFY(page.setFormatting(std::nullopt));
        QVERIFY2(page.formattingNote().contains("Plain text"), qPrintable(page.formattingNote()));
        page.setSamplingOptions(test::greedy(8));
        QVERIFY(send(page, "Once upon a time"));
        const QString stats = page.findChild<QLabel*>("baseStats")->text();
        QVERIFY2(stats.contains("(plain)"), qPrintable(stats));
        page.setTemplateShown(true);
        QVERIFY(page.templateView()->sourceText().contains("joined by blank lines"));
    }

    // The Playground reads the base a training run put on the device rather than loading its
    // own: with a run paused, both sides' backends hold no base bytes, the device holds the one
    // copy the run loaded whether the Playground is open or not, and the sides answer exactly as
    // generation from a private copy does. A side that had loaded its own before the run
    // started gives way to the run's at its next generation; after the run the sides keep it.
    void sharesTheTrainingRunsBase() {
        auto model = std::make_shared<SharedModel>(m_session->model());
        BaseWeightsOptions options;
        options.blocksize = 128;  // a base no other test's engines hold
        const auto baseBytes = [](const Backend& b) {
            return b.memory().snapshot().current_of(Usage::BaseWeights);
        };
        auto early = std::make_unique<GenerationEngine>(model, options, ProgressFn{});
        QVERIFY(baseBytes(early->backend()) > 0);
        QVERIFY(early->serves(model.get(), options));

        TrainConfig c;
        c.model = m_session->model()->path;
        c.run_dir = m_scratch.path() / "shared-base-run";
        c.data.path = c.model.parent_path() / "data" / "pirate_fortunes_train.jsonl";
        c.data.max_seq_len = 64;
        c.base = options;
        c.max_steps = 1000;
        c.save_every = 0;
        Trainer trainer(c);
        trainer.start();
        trainer.pause();
        QTRY_VERIFY_WITH_TIMEOUT(trainer.state() == TrainerState::Paused, kTimeoutMs);
        QVERIFY(!early->serves(model.get(), options));  // the run's base is there now
        early.reset();
        const std::shared_ptr<SharedBase> runBase =
            find_shared_base(shared_base_key(*m_session->model(), options, "cpu"));
        QVERIFY(runBase);
        const MemorySnapshot closed = runBase->owner().memory().snapshot();

        GenerationEngine baseSide(model, options, ProgressFn{}), adapterSide(model, options, ProgressFn{});
        QCOMPARE(&baseSide.base(), runBase.get());
        QCOMPARE(&adapterSide.base(), runBase.get());
        QCOMPARE(baseBytes(baseSide.backend()), std::int64_t(0));
        QCOMPARE(baseBytes(adapterSide.backend()), std::int64_t(0));
        const MemorySnapshot open = runBase->owner().memory().snapshot();
        QCOMPARE(open.current_of(Usage::BaseWeights), closed.current_of(Usage::BaseWeights));
        QCOMPARE(open.device_current, closed.device_current);

        const Tokenizer tokenizer = load_model_tokenizer(*m_session->model());
        GenerationPrompt prompt;
        prompt.ids = tokenizer.encode("Tell me a fortune about love.", true);
        const LoraAdapter adapter = test::random_adapter(m_session->model()->config, 11);
        adapterSide.setAdapter(&adapter);
        const GenerationResult fromBase = baseSide.generate(prompt, test::greedy(16), {});
        const GenerationResult fromAdapter = adapterSide.generate(prompt, test::greedy(16), {});
        CpuBackend privateBackend;
        DeviceBaseModel privateBase(privateBackend, *m_session->model(), options);
        LlamaGenerator plain(privateBackend, privateBase, nullptr, 64);
        QCOMPARE(generate(plain, tokenizer, prompt.ids, test::greedy(16), {}).ids, fromBase.ids);
        const auto lora = LoraParameters::from_adapter(privateBackend, m_session->model()->config, adapter);
        LlamaGenerator adapted(privateBackend, privateBase, lora.get(), 64);
        QCOMPARE(generate(adapted, tokenizer, prompt.ids, test::greedy(16), {}).ids, fromAdapter.ids);
        QVERIFY(fromBase.ids != fromAdapter.ids);
        QCOMPARE(baseSide.sharedWith(), std::string("the training run in shared-base-run"));

        // The page, chatting with the run's newest checkpoint, says whose base it reads.
        trainer.save_now();
        QTRY_VERIFY_WITH_TIMEOUT(
            fs::exists(c.run_dir / "checkpoints") && !fs::is_empty(c.run_dir / "checkpoints"), kTimeoutMs);
        QTRY_VERIFY_WITH_TIMEOUT(trainer.state() == TrainerState::Paused, kTimeoutMs);
        {
            PlaygroundPage page(m_session.get());
            page.setAdapterSource(PlaygroundPage::AdapterMode::RunLatestCheckpoint,
                                  QString::fromStdString(c.run_dir.string()));
            page.setSamplingOptions(test::greedy(4));
            page.resize(1024 - 180, 700 - 60);
            page.show();
            QVERIFY(send(page, "Ahoy?"));
            if (const QByteArray dir = qgetenv("QLS_SHOT_DIR"); !dir.isEmpty())
                QVERIFY(page.grab().save(QString::fromStdString(
                    (fs::path(dir.toStdString()) / "playground-run-base.png").string())));
            const QString stats = page.findChild<QLabel*>("adapterStats")->text();
            QVERIFY2(stats.endsWith("· base weights shared with the training run"), qPrintable(stats));
            QVERIFY(!page.findChild<QLabel*>("baseStats")->text().contains("training run"));
        }

        trainer.cancel();
        trainer.wait();
        QVERIFY(baseSide.serves(model.get(), options));
        QVERIFY(adapterSide.serves(model.get(), options));
    }

    // The main window at 1024×700 leaves the page about 820×600 beside its sidebar and bars.
    void fitsASmallWindow() {
        PlaygroundPage page(m_session.get());
        page.setTemplateShown(true);
        const QSize least = page.minimumSizeHint();
        QVERIFY2(least.width() <= 820 && least.height() <= 600,
                 qPrintable(QString("%1×%2").arg(least.width()).arg(least.height())));
    }

    // QLS_SHOT_DIR=/some/dir: the page in a window's page area at 1024×700 and 1920×1080, after
    // two turns with the template shown, as PNG, to look at.
    void screenshots() {
        const QByteArray dir = qgetenv("QLS_SHOT_DIR");
        if (dir.isEmpty()) QSKIP("set QLS_SHOT_DIR to write the screenshots");
        const fs::path shots = dir.toStdString();
        fs::create_directories(shots);
        PlaygroundPage page(m_session.get());
        page.setAdapterSource(PlaygroundPage::AdapterMode::PeftFolder, QString::fromStdString(m_adapterDir.string()));
        page.setSystemPrompt("Speak like a pirate.");
        page.setSamplingOptions(test::greedy(40));
        page.resize(1024 - 180, 700 - 60);  // less the main window's sidebar and status bar
        page.show();
        QVERIFY(send(page, "Tell me a fortune about love."));
        QVERIFY(send(page, "And about the sea?"));
        page.setPrompt("One more, about gold.");
        QVERIFY(page.grab().save(QString::fromStdString((shots / "playground-1024.png").string())));
        page.setTemplateShown(true);
        QApplication::processEvents();
        QVERIFY(page.grab().save(QString::fromStdString((shots / "playground-1024-template.png").string())));
        page.resize(1920 - 180, 1080 - 60);
        QApplication::processEvents();
        QVERIFY(page.grab().save(QString::fromStdString((shots / "playground-1920-template.png").string())));
        page.setTemplateShown(false);
        QApplication::processEvents();
        QVERIFY(page.grab().save(QString::fromStdString((shots / "playground-1920.png").string())));
    }
};

QTEST_MAIN(TestUiPlayground)
#include "test_ui_playground.moc"
