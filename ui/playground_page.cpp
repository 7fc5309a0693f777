#include "ui/playground_page.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QStyle>
#include <QTextCursor>
#include <QVBoxLayout>

#include <limits>

#include "core/train/trainer.h"
#include "ui/model_session.h"
#include "ui/run_adapter.h"

namespace qls::ui {

namespace {

QLabel* makeErrorLabel(QWidget* parent, const QString& name) {
    auto* label = new QLabel(parent);
    label->setObjectName(name);
    label->setWordWrap(true);
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    label->setFrameShape(QFrame::StyledPanel);
    label->setMargin(6);
    label->hide();
    return label;
}

QString stopReasonText(const QString& reason) {
    if (reason == "eos") return QObject::tr("end of reply");
    if (reason == "max_tokens") return QObject::tr("token limit");
    return QObject::tr("stopped");
}

std::filesystem::path toPath(const QString& s) { return std::filesystem::path(s.toStdString()); }

}  // namespace

PlaygroundPage::PlaygroundPage(ModelSession* session, QWidget* parent) : QWidget(parent), m_session(session) {
    auto* heading = new QLabel(tr("Playground"), this);
    QFont big = heading->font();
    big.setPointSizeF(big.pointSizeF() * 1.4);
    big.setBold(true);
    heading->setFont(big);
    auto* subheading = new QLabel(tr("One prompt, two answers: the base model alone and with the adapter."), this);
    subheading->setWordWrap(true);
    m_pageError = makeErrorLabel(this, "playgroundError");

    auto* top = new QHBoxLayout;
    top->addWidget(buildAdapterBox(), 3);
    top->addWidget(buildSettingsBox(), 2);

    auto* outputs = new QSplitter(Qt::Horizontal, this);
    outputs->setChildrenCollapsible(false);
    outputs->addWidget(buildPanel(GenerationWorker::Base, tr("Base model")));
    outputs->addWidget(buildPanel(GenerationWorker::Adapter, tr("Base + adapter")));

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(heading);
    layout->addWidget(subheading);
    layout->addWidget(m_pageError);
    layout->addLayout(top);
    layout->addWidget(buildPromptBox());
    layout->addWidget(outputs, 1);

    connect(&m_worker, &GenerationWorker::statusChanged, this,
            [this](GenerationWorker::Side side, const QString& status) { m_panels[side].stats->setText(status); });
    connect(&m_worker, &GenerationWorker::adapterResolved, this, [this](const QString& description) {
        m_panels[GenerationWorker::Adapter].box->setTitle(tr("Base + %1").arg(description));
    });
    connect(&m_worker, &GenerationWorker::textStreamed, this, &PlaygroundPage::onTextStreamed);
    connect(&m_worker, &GenerationWorker::sideFinished, this, &PlaygroundPage::onSideFinished);
    connect(&m_worker, &GenerationWorker::sideFailed, this, &PlaygroundPage::onSideFailed);
    connect(&m_worker, &GenerationWorker::finished, this, [this] {
        updateControls();
        emit generationFinished();
    });
    connect(m_session, &ModelSession::modelLoaded, this, &PlaygroundPage::updateControls);
    connect(m_session, &ModelSession::loadStarted, this, &PlaygroundPage::updateControls);
    updateControls();
    refreshAdapter();
}

QWidget* PlaygroundPage::buildAdapterBox() {
    auto* box = new QGroupBox(tr("Adapter"), this);
    auto* form = new QFormLayout(box);
    m_adapterMode = new QComboBox(box);
    m_adapterMode->setObjectName("adapterMode");
    m_adapterMode->addItem(tr("None: base model only"));
    m_adapterMode->addItem(tr("PEFT adapter folder"));
    m_adapterMode->addItem(tr("Latest checkpoint of a training run"));
    m_adapterPath = new QLineEdit(box);
    m_adapterPath->setObjectName("adapterPath");
    m_adapterPath->setPlaceholderText(tr("Folder"));
    m_browse = new QPushButton(style()->standardIcon(QStyle::SP_DialogOpenButton), tr("Browse…"), box);
    m_refresh = new QPushButton(style()->standardIcon(QStyle::SP_BrowserReload), tr("Refresh"), box);
    m_refresh->setObjectName("adapterRefresh");
    m_refresh->setToolTip(tr("Look for the run's newest checkpoint (it is also looked up on every Generate)"));
    auto* pathRow = new QHBoxLayout;
    pathRow->addWidget(m_adapterPath, 1);
    pathRow->addWidget(m_browse);
    pathRow->addWidget(m_refresh);
    m_adapterStatus = new QLabel(box);
    m_adapterStatus->setObjectName("adapterStatus");
    m_adapterStatus->setWordWrap(true);
    form->addRow(tr("Source"), m_adapterMode);
    form->addRow(tr("Folder"), pathRow);
    form->addRow(QString(), m_adapterStatus);

    connect(m_adapterMode, &QComboBox::currentIndexChanged, this, &PlaygroundPage::refreshAdapter);
    connect(m_adapterPath, &QLineEdit::editingFinished, this, &PlaygroundPage::refreshAdapter);
    connect(m_browse, &QPushButton::clicked, this, &PlaygroundPage::chooseFolder);
    connect(m_refresh, &QPushButton::clicked, this, &PlaygroundPage::refreshAdapter);
    return box;
}

QWidget* PlaygroundPage::buildSettingsBox() {
    auto* box = new QGroupBox(tr("Generation"), this);
    auto* grid = new QFormLayout(box);
    m_maxTokens = new QSpinBox(box);
    m_maxTokens->setObjectName("maxNewTokens");
    m_maxTokens->setRange(1, 8192);
    m_temperature = new QDoubleSpinBox(box);
    m_temperature->setObjectName("temperature");
    m_temperature->setRange(0.0, 5.0);
    m_temperature->setSingleStep(0.1);
    m_temperature->setSpecialValueText(tr("0 (greedy)"));
    m_topK = new QSpinBox(box);
    m_topK->setObjectName("topK");
    m_topK->setRange(0, 100000);
    m_topK->setSpecialValueText(tr("off"));
    m_topP = new QDoubleSpinBox(box);
    m_topP->setObjectName("topP");
    m_topP->setRange(0.01, 1.0);
    m_topP->setSingleStep(0.05);
    m_repetition = new QDoubleSpinBox(box);
    m_repetition->setObjectName("repetitionPenalty");
    m_repetition->setRange(0.1, 5.0);
    m_repetition->setSingleStep(0.05);
    m_seed = new QSpinBox(box);
    m_seed->setObjectName("seed");
    m_seed->setRange(0, std::numeric_limits<int>::max());
    const std::pair<const char*, QWidget*> rows[] = {
        {"Max new tokens", m_maxTokens}, {"Temperature", m_temperature}, {"Top-k", m_topK},
        {"Top-p", m_topP}, {"Repetition penalty", m_repetition}, {"Seed", m_seed}};
    for (const auto& [label, widget] : rows) grid->addRow(tr(label), widget);
    m_topP->setToolTip(tr("1: off"));
    m_repetition->setToolTip(tr("1: off; above 1 discourages repeating tokens"));
    m_seed->setToolTip(tr("Both sides draw with the same seed"));
    SamplingOptions defaults;
    defaults.temperature = 0.0f;  // greedy: the clearest before/after comparison
    defaults.max_new_tokens = 128;
    setSamplingOptions(defaults);
    return box;
}

QWidget* PlaygroundPage::buildPromptBox() {
    auto* box = new QGroupBox(tr("Prompt"), this);
    m_prompt = new QPlainTextEdit(box);
    m_prompt->setObjectName("prompt");
    m_prompt->setPlaceholderText(tr("Type a prompt; Ctrl+Return generates"));
    m_prompt->setMaximumHeight(m_prompt->fontMetrics().lineSpacing() * 6);
    m_promptMode = new QComboBox(box);
    m_promptMode->setObjectName("promptMode");
    m_promptMode->addItem(tr("Chat: through the model's chat template"));
    m_promptMode->addItem(tr("Raw text: continue it as is"));
    m_generate = new QPushButton(style()->standardIcon(QStyle::SP_MediaPlay), tr("Generate"), box);
    m_generate->setObjectName("generate");
    m_generate->setDefault(true);
    m_stop = new QPushButton(style()->standardIcon(QStyle::SP_MediaStop), tr("Stop"), box);
    m_stop->setObjectName("stop");
    auto* buttons = new QVBoxLayout;
    buttons->addWidget(m_promptMode);
    buttons->addWidget(m_generate);
    buttons->addWidget(m_stop);
    buttons->addStretch();
    auto* row = new QHBoxLayout(box);
    row->addWidget(m_prompt, 1);
    row->addLayout(buttons);

    connect(m_generate, &QPushButton::clicked, this, &PlaygroundPage::generate);
    connect(m_stop, &QPushButton::clicked, this, &PlaygroundPage::stop);
    auto* shortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), m_prompt);
    connect(shortcut, &QShortcut::activated, this, &PlaygroundPage::generate);
    return box;
}

QWidget* PlaygroundPage::buildPanel(GenerationWorker::Side side, const QString& title) {
    const QString prefix = side == GenerationWorker::Base ? "base" : "adapter";
    Panel& p = m_panels[side];
    p.box = new QGroupBox(title, this);
    p.text = new QPlainTextEdit(p.box);
    p.text->setObjectName(prefix + "Output");
    p.text->setReadOnly(true);
    p.stats = new QLabel(p.box);
    p.stats->setObjectName(prefix + "Stats");
    p.stats->setWordWrap(true);
    p.error = makeErrorLabel(p.box, prefix + "Error");
    auto* v = new QVBoxLayout(p.box);
    v->addWidget(p.text, 1);
    v->addWidget(p.error);
    v->addWidget(p.stats);
    return p.box;
}

void PlaygroundPage::setAdapterSource(AdapterMode mode, const QString& path) {
    m_adapterPath->setText(path);
    if (m_adapterMode->currentIndex() == int(mode)) refreshAdapter();
    else m_adapterMode->setCurrentIndex(int(mode));  // refreshes through the signal
}

void PlaygroundPage::setPrompt(const QString& text, PromptMode mode) {
    m_prompt->setPlainText(text);
    m_promptMode->setCurrentIndex(mode == PromptMode::Chat ? 0 : 1);
}

void PlaygroundPage::setSamplingOptions(const SamplingOptions& o) {
    m_maxTokens->setValue(int(o.max_new_tokens));
    m_temperature->setValue(o.temperature);
    m_topK->setValue(int(o.top_k));
    m_topP->setValue(o.top_p);
    m_repetition->setValue(o.repetition_penalty);
    m_seed->setValue(int(o.seed));
}

SamplingOptions PlaygroundPage::samplingOptions() const {
    SamplingOptions o;
    o.max_new_tokens = m_maxTokens->value();
    o.temperature = float(m_temperature->value());
    o.top_k = m_topK->value();
    o.top_p = float(m_topP->value());
    o.repetition_penalty = float(m_repetition->value());
    o.seed = std::uint64_t(m_seed->value());
    return o;
}

QString PlaygroundPage::outputText(GenerationWorker::Side side) const { return m_panels[side].text->toPlainText(); }

QString PlaygroundPage::errorText(GenerationWorker::Side side) const {
    return m_panels[side].error->isHidden() ? QString() : m_panels[side].error->text();
}

QString PlaygroundPage::adapterStatus() const { return m_adapterStatus->text(); }

void PlaygroundPage::chooseFolder() {
    const bool run = m_adapterMode->currentIndex() == int(AdapterMode::RunLatestCheckpoint);
    const QString dir = QFileDialog::getExistingDirectory(
        this, run ? tr("Training run folder") : tr("PEFT adapter folder"), m_adapterPath->text());
    if (dir.isEmpty()) return;
    if (m_adapterMode->currentIndex() == int(AdapterMode::None))
        m_adapterMode->setCurrentIndex(isRunFolder(toPath(dir)) ? int(AdapterMode::RunLatestCheckpoint)
                                                                : int(AdapterMode::PeftFolder));
    m_adapterPath->setText(dir);
    refreshAdapter();
}

void PlaygroundPage::refreshAdapter() {
    const auto mode = AdapterMode(m_adapterMode->currentIndex());
    const std::filesystem::path dir = toPath(m_adapterPath->text().trimmed());
    m_runBase.reset();
    m_adapterPath->setEnabled(mode != AdapterMode::None);
    m_browse->setEnabled(mode != AdapterMode::None);
    m_refresh->setEnabled(mode == AdapterMode::RunLatestCheckpoint);
    m_panels[GenerationWorker::Adapter].box->setTitle(tr("Base + adapter"));
    QString status;
    try {
        if (mode == AdapterMode::None) {
            status = tr("Only the base model generates.");
        } else if (dir.empty()) {
            status = tr("Choose a folder.");
        } else if (mode == AdapterMode::PeftFolder) {
            status = std::filesystem::exists(dir / "adapter_config.json")
                         ? tr("Loads the adapter in %1.").arg(QString::fromStdString(dir.filename().string()))
                         : tr("No adapter_config.json in this folder: choose a PEFT adapter folder.");
        } else {
            // The run's 4-bit settings, so the base matches the one its adapter was trained on.
            m_runBase = Trainer::config_of_run(dir).base;
            const std::optional<RunAdapter> latest = latestCheckpointAdapter(dir);
            status = latest ? tr("Loads %1; Generate looks for a newer one each time.").arg(latest->description)
                            : tr("No checkpoint yet: the run writes one every save interval and when it ends.");
        }
    } catch (const std::exception& e) {
        status = QString::fromStdString(e.what());
    }
    m_adapterStatus->setText(status);
    updateControls();
}

BaseWeightsOptions PlaygroundPage::baseOptions() const {
    if (m_runBase) return *m_runBase;
    const QuantSettings& q = m_session->quantSettings();
    return BaseWeightsOptions{q.type, q.doubleQuant, q.blockSize};
}

void PlaygroundPage::updateControls() {
    const bool running = m_worker.isRunning();
    const bool ready = m_session->hasModel() && !m_session->loader()->isRunning();
    m_generate->setEnabled(ready && !running);
    m_stop->setEnabled(running);
    m_adapterMode->setEnabled(!running);
    if (!ready && !running) showPageError(tr("Open a model on the Model page first."));
    else m_pageError->hide();
}

void PlaygroundPage::showPageError(const QString& message) {
    m_pageError->setText(message);
    m_pageError->show();
}

void PlaygroundPage::generate() {
    if (m_worker.isRunning() || !m_session->hasModel()) return;
    const auto mode = AdapterMode(m_adapterMode->currentIndex());
    std::optional<AdapterSource> adapter;
    if (mode != AdapterMode::None && !m_adapterPath->text().trimmed().isEmpty())
        adapter = AdapterSource{mode == AdapterMode::PeftFolder ? AdapterSource::Kind::PeftFolder
                                                                : AdapterSource::Kind::RunLatestCheckpoint,
                                toPath(m_adapterPath->text().trimmed())};
    GenerationRequest request;
    request.prompt = m_prompt->toPlainText().toStdString();
    request.mode = m_promptMode->currentIndex() == 0 ? PromptMode::Chat : PromptMode::Plain;
    request.sampling = samplingOptions();
    try {
        request.sampling.validate();
    } catch (const std::exception& e) {
        showPageError(QString::fromStdString(e.what()));
        return;
    }
    for (Panel& p : m_panels) {
        p.text->clear();
        p.error->hide();
        p.stats->clear();
        p.tokens = 0;
    }
    if (!adapter) m_panels[GenerationWorker::Adapter].stats->setText(tr("No adapter chosen."));
    m_worker.start(m_session->model(), baseOptions(), request, adapter);
    updateControls();
    emit generationStarted();
}

void PlaygroundPage::stop() { m_worker.stop(); }

void PlaygroundPage::onTextStreamed(GenerationWorker::Side side, const QString& text, int tokens) {
    Panel& p = m_panels[side];
    if (!text.isEmpty()) {
        // Append without a paragraph break: insertPlainText at the end keeps the text as streamed.
        QTextCursor cursor = p.text->textCursor();
        cursor.movePosition(QTextCursor::End);
        cursor.insertText(text);
        p.text->ensureCursorVisible();
    }
    p.tokens = tokens;
    p.stats->setText(tr("Generating… %1 tokens").arg(tokens));
    emit outputStreamed(side, tokens);
}

void PlaygroundPage::onSideFinished(GenerationWorker::Side side, const GenerationStats& s) {
    Panel& p = m_panels[side];
    p.tokens = s.tokens;
    if (s.stopReason == "cancelled" && s.promptFormat.isEmpty()) {
        p.stats->setText(tr("Stopped before generating."));
        return;
    }
    p.stats->setText(tr("%1 tokens · %2 tokens/s · %3 · prompt %4 tokens (%5)")
                         .arg(s.tokens)
                         .arg(s.tokensPerSecond, 0, 'f', 1)
                         .arg(stopReasonText(s.stopReason))
                         .arg(s.promptTokens)
                         .arg(s.promptFormat));
}

void PlaygroundPage::onSideFailed(GenerationWorker::Side side, const QString& message) {
    Panel& p = m_panels[side];
    p.stats->clear();
    p.error->setText(tr("<b style=\"color:#c62828\">Could not generate</b><br>%1").arg(message.toHtmlEscaped()));
    p.error->show();
}

}  // namespace qls::ui
