// The Playground page's widgets: the settings column (adapter, chat formatting and system
// prompt, sampling), the two transcripts, the template view and the message composer.
#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QShortcut>
#include <QSpinBox>
#include <QStyle>
#include <QVBoxLayout>

#include <limits>

#include "ui/chat_transcript.h"
#include "ui/playground_page.h"

namespace qls::ui {

QLabel* PlaygroundPage::makeErrorLabel(QWidget* parent, const QString& name) {
    auto* label = new QLabel(parent);
    label->setObjectName(name);
    label->setWordWrap(true);
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    label->setFrameShape(QFrame::StyledPanel);
    label->setMargin(6);
    label->hide();
    return label;
}

QWidget* PlaygroundPage::buildAdapterBox() {
    auto* box = new QGroupBox(tr("Adapter"), this);
    auto* layout = new QVBoxLayout(box);
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
    m_refresh->setToolTip(tr("Look for the run's newest checkpoint (it is also looked up on every Send)"));
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_browse);
    buttons->addWidget(m_refresh);
    buttons->addStretch();
    m_adapterStatus = new QLabel(box);
    m_adapterStatus->setObjectName("adapterStatus");
    m_adapterStatus->setWordWrap(true);
    layout->addWidget(m_adapterMode);
    layout->addWidget(m_adapterPath);
    layout->addLayout(buttons);
    layout->addWidget(m_adapterStatus);

    connect(m_adapterMode, &QComboBox::currentIndexChanged, this, &PlaygroundPage::refreshAdapter);
    connect(m_adapterPath, &QLineEdit::editingFinished, this, &PlaygroundPage::refreshAdapter);
    connect(m_browse, &QPushButton::clicked, this, &PlaygroundPage::chooseFolder);
    connect(m_refresh, &QPushButton::clicked, this, &PlaygroundPage::refreshAdapter);
    return box;
}

QWidget* PlaygroundPage::buildChatBox() {
    auto* box = new QGroupBox(tr("Chat"), this);
    auto* layout = new QVBoxLayout(box);
    m_formatting = new QComboBox(box);
    m_formatting->setObjectName("formatting");
    m_formatting->setToolTip(tr("How the conversation becomes the prompt; both sides use the same"));
    const std::pair<QString, int> items[] = {
        {tr("The model's chat template"), int(TemplateKind::ModelTemplate)},
        {tr("ChatML"), int(TemplateKind::ChatML)},
        {tr("Llama 3"), int(TemplateKind::Llama3)},
        {tr("Llama 2 / Mistral [INST]"), int(TemplateKind::Llama2)},
        {tr("Alpaca"), int(TemplateKind::Alpaca)},
        {tr("Zephyr"), int(TemplateKind::Zephyr)},
        {tr("Raw: contents back to back"), int(TemplateKind::Raw)},
        {tr("Plain text, no roles"), -1}};
    for (const auto& [name, value] : items) m_formatting->addItem(name, value);
    m_formattingNote = new QLabel(box);
    m_formattingNote->setObjectName("formattingNote");
    m_formattingNote->setWordWrap(true);
    m_system = new QPlainTextEdit(box);
    m_system->setObjectName("systemPrompt");
    m_system->setFixedHeight(m_system->fontMetrics().lineSpacing() * 4 + 12);
    m_system->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    layout->addWidget(new QLabel(tr("Formatting"), box));
    layout->addWidget(m_formatting);
    layout->addWidget(m_formattingNote);
    layout->addWidget(new QLabel(tr("System prompt"), box));
    layout->addWidget(m_system);

    connect(m_formatting, &QComboBox::activated, this, [this] {
        m_formattingChosen = true;
        applyFormatting();
    });
    connect(m_system, &QPlainTextEdit::textChanged, this, [this] {
        refreshTranscripts();
        schedulePreview();
    });
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
    m_maxTokens->setToolTip(tr("Older exchanges leave the prompt when it and this many new tokens exceed the context"));
    m_topP->setToolTip(tr("1: off"));
    m_repetition->setToolTip(tr("1: off; above 1 discourages repeating tokens"));
    m_seed->setToolTip(tr("Both sides draw with the same seed; with sampling, Regenerate counts it up"));
    SamplingOptions defaults;
    defaults.temperature = 0.0f;  // greedy: the clearest before/after comparison
    defaults.max_new_tokens = 128;
    setSamplingOptions(defaults);
    connect(m_maxTokens, &QSpinBox::valueChanged, this, &PlaygroundPage::schedulePreview);
    return box;
}

QWidget* PlaygroundPage::buildComposer() {
    auto* composer = new QWidget(this);
    m_regenerate = new QPushButton(style()->standardIcon(QStyle::SP_BrowserReload), tr("Regenerate"), composer);
    m_regenerate->setObjectName("regenerate");
    m_regenerate->setToolTip(tr("Drop both last replies and generate them again from the same history"));
    m_clear = new QPushButton(style()->standardIcon(QStyle::SP_FileIcon), tr("New conversation"), composer);
    m_clear->setObjectName("newConversation");
    m_clear->setToolTip(tr("Forget the turns; the system prompt and settings stay"));
    m_showTemplate = new QCheckBox(tr("Show chat template"), composer);
    m_showTemplate->setObjectName("showTemplate");
    m_showTemplate->setToolTip(tr("The formatting's source and the exact prompt the next Send gives each side"));
    m_input = new QPlainTextEdit(composer);
    m_input->setObjectName("prompt");
    m_input->setPlaceholderText(tr("Type a message; Ctrl+Return sends"));
    m_input->setMinimumHeight(m_input->fontMetrics().lineSpacing() * 2 + 12);
    m_input->setMaximumHeight(m_input->fontMetrics().lineSpacing() * 5 + 12);
    m_send = new QPushButton(style()->standardIcon(QStyle::SP_MediaPlay), tr("Send"), composer);
    m_send->setObjectName("generate");
    m_send->setDefault(true);
    m_stop = new QPushButton(style()->standardIcon(QStyle::SP_MediaStop), tr("Stop"), composer);
    m_stop->setObjectName("stop");

    auto* tools = new QHBoxLayout;
    tools->addWidget(m_regenerate);
    tools->addWidget(m_clear);
    tools->addStretch();
    tools->addWidget(m_showTemplate);
    auto* sendButtons = new QVBoxLayout;
    sendButtons->addWidget(m_send);
    sendButtons->addWidget(m_stop);
    sendButtons->addStretch();
    auto* row = new QHBoxLayout;
    row->addWidget(m_input, 1);
    row->addLayout(sendButtons);
    auto* layout = new QVBoxLayout(composer);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(tools);
    layout->addLayout(row);

    connect(m_send, &QPushButton::clicked, this, &PlaygroundPage::generate);
    connect(m_stop, &QPushButton::clicked, this, &PlaygroundPage::stop);
    connect(m_regenerate, &QPushButton::clicked, this, &PlaygroundPage::regenerate);
    connect(m_clear, &QPushButton::clicked, this, &PlaygroundPage::newConversation);
    connect(m_showTemplate, &QCheckBox::toggled, this, &PlaygroundPage::setTemplateShown);
    connect(m_input, &QPlainTextEdit::textChanged, this, &PlaygroundPage::schedulePreview);
    auto* shortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), m_input);
    connect(shortcut, &QShortcut::activated, this, &PlaygroundPage::generate);
    return composer;
}

QWidget* PlaygroundPage::buildPanel(GenerationWorker::Side side, const QString& title) {
    const QString prefix = side == GenerationWorker::Base ? "base" : "adapter";
    Panel& p = m_panels[side];
    p.box = new QGroupBox(title, this);
    p.transcript = new ChatTranscript(side == GenerationWorker::Base ? tr("Base model") : tr("Base + adapter"), p.box);
    p.transcript->setObjectName(prefix + "Transcript");
    p.transcript->setMinimumSize(160, 120);
    p.stats = new QLabel(p.box);
    p.stats->setObjectName(prefix + "Stats");
    p.stats->setWordWrap(true);
    // Splitters do not pass a wrapped label's height on; three lines hold the stats in a narrow panel.
    p.stats->setMinimumHeight(p.stats->fontMetrics().lineSpacing() * 3);
    p.stats->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    p.error = makeErrorLabel(p.box, prefix + "Error");
    p.copy = new QPushButton(style()->standardIcon(QStyle::SP_DialogSaveButton), tr("Copy conversation"), p.box);
    p.copy->setObjectName(prefix + "Copy");
    p.copy->setToolTip(tr("Copy this side's whole conversation (system prompt, your messages, its replies) as text"));
    auto* v = new QVBoxLayout(p.box);
    v->addWidget(p.transcript, 1);
    v->addWidget(p.error);
    v->addWidget(p.stats);
    v->addWidget(p.copy, 0, Qt::AlignRight);
    connect(p.copy, &QPushButton::clicked, this,
            [this, side] { QApplication::clipboard()->setText(conversationText(side)); });
    return p.box;
}

}  // namespace qls::ui
