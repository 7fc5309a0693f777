#include "ui/playground_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTimer>
#include <QVBoxLayout>

#include "core/train/trainer.h"
#include "ui/chat_template_view.h"
#include "ui/chat_transcript.h"
#include "ui/model_session.h"
#include "ui/run_adapter.h"

namespace qls::ui {

namespace {

QString stopReasonText(const QString& reason) {
    if (reason == "eos") return QObject::tr("end of reply");
    if (reason == "max_tokens") return QObject::tr("token limit");
    return QObject::tr("stopped");
}

std::filesystem::path toPath(const QString& s) { return std::filesystem::path(s.toStdString()); }

int choiceData(ChatTemplateChoice c) { return c ? int(*c) : -1; }

ChatTemplateChoice choiceOf(int data) {
    return data < 0 ? ChatTemplateChoice() : ChatTemplateChoice(TemplateKind(data));
}

}  // namespace

PlaygroundPage::PlaygroundPage(ModelSession* session, QWidget* parent) : QWidget(parent), m_session(session) {
    auto* heading = new QLabel(tr("Playground"), this);
    QFont big = heading->font();
    big.setPointSizeF(big.pointSizeF() * 1.4);
    big.setBold(true);
    heading->setFont(big);
    auto* subheading = new QLabel(tr("One conversation, two answers: the base model alone and with the adapter."), this);
    subheading->setWordWrap(true);
    m_pageError = makeErrorLabel(this, "playgroundError");

    // The settings scroll in their own column, so the conversation keeps the height.
    auto* settings = new QWidget;
    auto* settingsLayout = new QVBoxLayout(settings);
    settingsLayout->setContentsMargins(0, 0, 4, 0);
    settingsLayout->addWidget(buildAdapterBox());
    settingsLayout->addWidget(buildChatBox());
    settingsLayout->addWidget(buildSettingsBox());
    settingsLayout->addStretch();
    auto* settingsScroll = new QScrollArea(this);
    settingsScroll->setWidget(settings);
    settingsScroll->setWidgetResizable(true);
    settingsScroll->setFrameShape(QFrame::NoFrame);
    settingsScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    settingsScroll->setMinimumWidth(240);

    auto* outputs = new QSplitter(Qt::Horizontal, this);
    outputs->setChildrenCollapsible(false);
    outputs->addWidget(buildPanel(GenerationWorker::Base, tr("Base model")));
    outputs->addWidget(buildPanel(GenerationWorker::Adapter, tr("Base + adapter")));
    m_templateView = new ChatTemplateView(this);
    m_templateView->setObjectName("chatTemplateView");
    m_templateView->hide();
    auto* conversation = new QSplitter(Qt::Vertical, this);
    conversation->setChildrenCollapsible(false);
    conversation->addWidget(outputs);
    conversation->addWidget(m_templateView);
    conversation->setStretchFactor(0, 3);
    conversation->setStretchFactor(1, 2);
    auto* right = new QWidget(this);
    auto* rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    rightLayout->addWidget(conversation, 1);
    rightLayout->addWidget(buildComposer());

    auto* columns = new QSplitter(Qt::Horizontal, this);
    columns->setChildrenCollapsible(false);
    columns->addWidget(settingsScroll);
    columns->addWidget(right);
    columns->setStretchFactor(1, 1);
    columns->setSizes({300, 900});

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(heading);
    layout->addWidget(subheading);
    layout->addWidget(m_pageError);
    layout->addWidget(columns, 1);

    m_previewTimer = new QTimer(this);
    m_previewTimer->setSingleShot(true);
    m_previewTimer->setInterval(150);  // one render per pause in typing
    connect(m_previewTimer, &QTimer::timeout, this, &PlaygroundPage::updatePreview);

    connect(&m_worker, &GenerationWorker::statusChanged, this,
            [this](GenerationWorker::Side side, const QString& status) { m_panels[side].stats->setText(status); });
    connect(&m_worker, &GenerationWorker::adapterResolved, this, [this](const QString& description) {
        m_panels[GenerationWorker::Adapter].box->setTitle(tr("Base + %1").arg(description));
    });
    connect(&m_worker, &GenerationWorker::textStreamed, this, &PlaygroundPage::onTextStreamed);
    connect(&m_worker, &GenerationWorker::sideFinished, this, &PlaygroundPage::onSideFinished);
    connect(&m_worker, &GenerationWorker::sideFailed, this, &PlaygroundPage::onSideFailed);
    connect(&m_worker, &GenerationWorker::finished, this, [this] {
        refreshTranscripts();
        updateControls();
        schedulePreview();
        emit generationFinished();
    });
    connect(m_session, &ModelSession::modelLoaded, this, &PlaygroundPage::onModelLoaded);
    connect(m_session, &ModelSession::loadStarted, this, &PlaygroundPage::updateControls);
    refreshAdapter();
    if (m_session->hasModel()) onModelLoaded();
    updateControls();
}

void PlaygroundPage::setAdapterSource(AdapterMode mode, const QString& path) {
    m_adapterPath->setText(path);
    if (m_adapterMode->currentIndex() == int(mode)) refreshAdapter();
    else m_adapterMode->setCurrentIndex(int(mode));  // refreshes through the signal
}

void PlaygroundPage::setPrompt(const QString& text) { m_input->setPlainText(text); }

void PlaygroundPage::setSystemPrompt(const QString& text) { m_system->setPlainText(text); }

QString PlaygroundPage::systemPrompt() const { return m_system->toPlainText(); }

bool PlaygroundPage::setFormatting(ChatTemplateChoice choice) {
    const int index = m_formatting->findData(choiceData(choice));
    auto* items = qobject_cast<QStandardItemModel*>(m_formatting->model());
    if (index < 0 || !items->item(index)->isEnabled()) return false;
    m_formattingChosen = true;
    m_formatting->setCurrentIndex(index);
    applyFormatting();
    return m_chat.builder() != nullptr;
}

ChatTemplateChoice PlaygroundPage::formatting() const { return choiceOf(m_formatting->currentData().toInt()); }

QString PlaygroundPage::formattingNote() const { return m_formattingNote->text(); }

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

QString PlaygroundPage::outputText(GenerationWorker::Side side) const { return m_chat.lastReply(side); }

QString PlaygroundPage::conversationText(GenerationWorker::Side side) const {
    return m_panels[side].transcript->conversationText();
}

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
    m_trainedWith.reset();
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
            // The run's 4-bit settings, so the base matches the one its adapter was trained on,
            // and its template, so the adapter is prompted as it was trained.
            const TrainConfig run = Trainer::config_of_run(dir);
            m_runBase = run.base;
            m_trainedWith = run.data.chat_template;
            const std::optional<RunAdapter> latest = latestCheckpointAdapter(dir);
            status = latest ? tr("Loads %1; Send looks for a newer one each time.").arg(latest->description)
                            : tr("No checkpoint yet: the run writes one every save interval and when it ends.");
        }
    } catch (const std::exception& e) {
        status = QString::fromStdString(e.what());
    }
    m_adapterStatus->setText(status);
    if (m_chat.model()) chooseDefaultFormatting();
    refreshTranscripts();
    updateControls();
}

BaseWeightsOptions PlaygroundPage::baseOptions() const {
    if (m_runBase) return *m_runBase;
    return m_session->quantSettings().baseOptions();
}

// A new model: a new conversation, and the formattings its tokenizer can serve.
void PlaygroundPage::onModelLoaded() {
    m_chat.clear();
    m_chat.setModel(std::make_shared<SharedModel>(m_session->model()));
    m_formattingChosen = false;
    auto* items = qobject_cast<QStandardItemModel*>(m_formatting->model());
    try {
        const Tokenizer& tokenizer = m_chat.model()->tokenizer();
        for (int i = 0; i < m_formatting->count(); ++i) {
            QString why;
            try {
                ChatPromptBuilder(tokenizer, m_session->model()->config, choiceOf(m_formatting->itemData(i).toInt()));
            } catch (const std::exception& e) {
                why = QString::fromStdString(e.what());
            }
            items->item(i)->setEnabled(why.isEmpty());
            items->item(i)->setToolTip(why);
        }
    } catch (const std::exception& e) {
        showPageError(tr("Could not read the model's tokenizer: %1").arg(QString::fromStdString(e.what())));
        m_chat.setModel(nullptr);
    }
    if (m_chat.model()) chooseDefaultFormatting();
    clearPanels();
}

void PlaygroundPage::chooseDefaultFormatting() {
    if (m_formattingChosen) return;
    const ChatTemplateChoice choice = default_chat_template(m_chat.model()->tokenizer(), m_trainedWith);
    m_formatting->setCurrentIndex(m_formatting->findData(choiceData(choice)));
    applyFormatting();
}

void PlaygroundPage::applyFormatting() {
    const ChatTemplateChoice choice = formatting();
    try {
        m_chat.setFormatting(choice);
    } catch (const std::exception& e) {
        showPageError(tr("This formatting does not suit the model: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    const bool hasTemplate = !m_chat.model()->tokenizer().chat_template().empty();
    const QString name = m_formatting->currentText();
    QString note;
    if (choice == TemplateKind::ModelTemplate)
        note = tr("The model's own chat template, rendered as transformers' apply_chat_template.");
    else if (choice && m_trainedWith == choice)
        note = tr("%1, the template the run trained with, laid out as in training.").arg(name);
    else if (choice)
        note = tr("%1, laid out as training renders it.").arg(name);
    else
        note = tr("Plain text: the system prompt and messages joined by blank lines, without roles.");
    if (!hasTemplate) note = tr("The model has no chat template. %1").arg(note);
    m_formattingNote->setText(note);

    const QString def = QString::fromStdString(m_chat.builder()->default_system());
    // Show the formatting's own system prompt, unless the user wrote another.
    if (m_system->toPlainText().isEmpty() || m_system->toPlainText() == m_defaultSystem) m_system->setPlainText(def);
    m_defaultSystem = def;
    m_system->setPlaceholderText(def.isEmpty() ? tr("Optional") : tr("Empty: the template writes its own default"));
    const QString title = choice == TemplateKind::ModelTemplate ? tr("The model's chat template (Jinja):")
                          : choice ? tr("%1, shown on an example chat:").arg(name)
                                   : tr("Plain text:");
    m_templateView->setSource(title, QString::fromStdString(m_chat.builder()->source()));
    m_pageError->hide();
    updateControls();
    schedulePreview();
}

void PlaygroundPage::updateControls() {
    const bool running = m_worker.isRunning();
    const bool ready = m_session->hasModel() && !m_session->loader()->isRunning() && m_chat.builder();
    const bool hasTurns = !m_chat.turns().empty();
    m_send->setEnabled(ready && !running);
    m_regenerate->setEnabled(ready && !running && hasTurns);
    m_clear->setEnabled(!running && hasTurns);
    m_stop->setEnabled(running);
    m_adapterMode->setEnabled(!running);
    m_formatting->setEnabled(!running && m_chat.model());
    for (Panel& p : m_panels) p.copy->setEnabled(hasTurns);
    if (!m_session->hasModel() || m_session->loader()->isRunning())
        if (!running) showPageError(tr("Open a model on the Model page first."));
}

void PlaygroundPage::showPageError(const QString& message) {
    m_pageError->setText(message);
    m_pageError->show();
}

std::optional<AdapterSource> PlaygroundPage::adapterSource() const {
    const auto mode = AdapterMode(m_adapterMode->currentIndex());
    if (mode == AdapterMode::None || m_adapterPath->text().trimmed().isEmpty()) return std::nullopt;
    return AdapterSource{mode == AdapterMode::PeftFolder ? AdapterSource::Kind::PeftFolder
                                                         : AdapterSource::Kind::RunLatestCheckpoint,
                         toPath(m_adapterPath->text().trimmed())};
}

void PlaygroundPage::generate() {
    const QString message = m_input->toPlainText().trimmed();
    if (message.isEmpty()) {
        if (!m_worker.isRunning()) showPageError(tr("Type a message first."));
        return;
    }
    startTurn(message, false);
}

void PlaygroundPage::regenerate() {
    if (m_chat.turns().empty()) return;
    // The same seed would draw the same reply again.
    if (m_temperature->value() > 0 && !m_worker.isRunning()) m_seed->setValue(m_seed->value() + 1);
    startTurn(QString(), true);
}

void PlaygroundPage::startTurn(const QString& message, bool regenerate) {
    if (m_worker.isRunning() || !m_session->hasModel() || !m_chat.builder()) return;
    const std::optional<AdapterSource> adapter = adapterSource();
    GenerationRequest request;
    request.sampling = samplingOptions();
    std::array<ChatPrompt, 2> prompts;
    try {
        request.sampling.validate();
        prompts = m_chat.prompts(m_system->toPlainText(), message, regenerate, request.sampling.max_new_tokens);
    } catch (const std::exception& e) {
        showPageError(QString::fromStdString(e.what()));
        return;
    }
    m_pageError->hide();
    request.base = prompts[GenerationWorker::Base].prompt;
    request.adapter = prompts[GenerationWorker::Adapter].prompt;
    m_chat.begin(message, regenerate, prompts, {true, adapter.has_value()});
    for (Panel& p : m_panels) {
        p.error->hide();
        p.stats->clear();
        p.tokens = 0;
    }
    if (!adapter) m_panels[GenerationWorker::Adapter].stats->setText(tr("No adapter chosen."));
    m_worker.start(m_chat.model(), baseOptions(), request, adapter);
    if (!regenerate) m_input->clear();
    refreshTranscripts();
    updateControls();
    emit generationStarted();
}

// Both sides back to an empty transcript with no figures or error shown.
void PlaygroundPage::clearPanels() {
    for (Panel& p : m_panels) {
        p.stats->clear();
        p.error->hide();
        p.tokens = 0;
    }
    refreshTranscripts();
    updateControls();
}

void PlaygroundPage::newConversation() {
    if (m_worker.isRunning()) return;
    m_chat.clear();
    clearPanels();
    schedulePreview();
}

void PlaygroundPage::stop() { m_worker.stop(); }

void PlaygroundPage::setTemplateShown(bool shown) {
    m_showTemplate->setChecked(shown);
    m_templateView->setVisible(shown);
    if (shown) updatePreview();
}

void PlaygroundPage::refreshTranscripts() {
    const bool running = m_worker.isRunning();
    for (int side = 0; side < 2; ++side)
        m_panels[side].transcript->setBlocks(m_chat.blocks(side, m_system->toPlainText(), running));
}

void PlaygroundPage::schedulePreview() {
    if (!m_templateView->isHidden()) m_previewTimer->start();
}

// The prompts the next Send would give each side: the history and the message being typed.
void PlaygroundPage::updatePreview() {
    if (m_templateView->isHidden() || !m_chat.builder()) return;
    const std::int64_t maxNew = m_maxTokens->value();
    const std::int64_t context = m_session->model()->config.max_position_embeddings;
    std::array<ChatPrompt, 2> prompts;
    try {
        prompts = m_chat.prompts(m_system->toPlainText(), m_input->toPlainText().trimmed(), false, maxNew);
    } catch (const std::exception& e) {
        for (int side = 0; side < 2; ++side) m_templateView->setNextPrompt(side, QString::fromStdString(e.what()), {});
        return;
    }
    for (int side = 0; side < 2; ++side) {
        const ChatPrompt& p = prompts[side];
        QString summary = tr("%1 tokens, + up to %2 new, of a %3-token context (%4).")
                              .arg(p.prompt.ids.size())
                              .arg(maxNew)
                              .arg(context)
                              .arg(QString::fromStdString(p.prompt.format));
        if (p.dropped_exchanges)
            summary += tr(" The %n oldest exchange(s) are left out to fit.", nullptr, int(p.dropped_exchanges));
        m_templateView->setNextPrompt(side, summary, QString::fromStdString(p.prompt.text));
    }
}

void PlaygroundPage::onTextStreamed(GenerationWorker::Side side, const QString& text, int tokens) {
    Panel& p = m_panels[side];
    if (!text.isEmpty()) {
        m_chat.appendReply(side, text);
        p.transcript->setBlocks(m_chat.blocks(side, m_system->toPlainText(), true));
    }
    p.tokens = tokens;
    p.stats->setText(tr("Generating… %1 tokens").arg(tokens));
    emit outputStreamed(side, tokens);
}

void PlaygroundPage::onSideFinished(GenerationWorker::Side side, const GenerationStats& s) {
    Panel& p = m_panels[side];
    p.tokens = s.tokens;
    if (s.stopReason == "cancelled" && s.tokens == 0) {
        m_chat.dropReply(side);  // nothing to keep in the history
        p.stats->setText(tr("Stopped before generating."));
        return;
    }
    QString text = tr("%1 tokens · %2 tokens/s · %3 · prompt %4 tokens (%5)")
                       .arg(s.tokens)
                       .arg(s.tokensPerSecond, 0, 'f', 1)
                       .arg(stopReasonText(s.stopReason))
                       .arg(s.promptTokens)
                       .arg(s.promptFormat);
    // Only the training run's copy is worth naming (the panel title names the run), and once:
    // the two sides always share theirs, and the base side's panel is the narrow one.
    if (side == GenerationWorker::Adapter && s.baseSharedWith.startsWith("the training run"))
        text += tr(" · base weights shared with the training run");
    p.stats->setText(text);
}

void PlaygroundPage::onSideFailed(GenerationWorker::Side side, const QString& message) {
    Panel& p = m_panels[side];
    m_chat.dropReply(side);
    p.stats->clear();
    p.error->setText(tr("<b style=\"color:#c62828\">Could not generate</b><br>%1").arg(message.toHtmlEscaped()));
    p.error->show();
}

}  // namespace qls::ui
