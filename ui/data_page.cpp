#include "ui/data_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTextBrowser>
#include <QTimer>
#include <QVBoxLayout>

#include "core/model/model_loader.h"
#include "core/util/resource_paths.h"
#include "ui/model_session.h"

namespace qls::ui {

namespace {

const QStringList kFieldNames = {"instruction", "input", "output", "messages", "prompt", "completion", "text"};

// The fields each form reads (Auto: all of them may matter).
QStringList fieldsOf(DataForm form) {
    switch (form) {
    case DataForm::Alpaca: return {"instruction", "input", "output"};
    case DataForm::Chat: return {"messages"};
    case DataForm::ShareGpt: return {};
    case DataForm::PromptCompletion: return {"prompt", "completion"};
    case DataForm::Text: return {"text"};
    case DataForm::Auto: break;
    }
    return kFieldNames;
}

}  // namespace

// Each count says what it counts, and they add up: the records read are the training and
// validation examples plus the ones left out; lines that were not records at all come apart.
QString DataPage::statsText(const DatasetStats& s, bool validationFile) {
    QString text = tr("<b>%1 records</b> read%2 = <b>%3 training</b> + <b>%4 validation</b> examples + <b>%5 left "
                      "out</b>")
                       .arg(s.records)
                       .arg(validationFile ? tr(" from the training and validation files") : QString())
                       .arg(s.train.examples)
                       .arg(s.valid.examples)
                       .arg(s.rejected);
    if (s.unreadable > 0)
        text += tr("; %n more line(s) could not be read as a record", nullptr, int(s.unreadable));
    if (s.dropped > 0) text += tr(" (each listed under Invalid records)");
    text += tr(".<br>Training examples: %1 tokens, of which %2 are trained (the loss sees them); %3–%4 tokens each, "
               "mean %5")
                .arg(s.train.tokens)
                .arg(s.train.trained_tokens)
                .arg(s.train.min_length)
                .arg(s.train.max_length)
                .arg(s.train.mean_length, 0, 'f', 1);
    const std::size_t truncated = s.train.truncated + s.valid.truncated;
    if (truncated > 0) text += tr("; %1 example(s) cut to the max length of %2 tokens").arg(truncated).arg(s.max_seq_len);
    return text + QStringLiteral(".");
}

DataPage::DataPage(ModelSession* session, QWidget* parent) : QWidget(parent), m_session(session) {
    // The settings scroll on a short screen rather than push the window taller.
    auto* settings = new QScrollArea(this);
    settings->setWidgetResizable(true);
    settings->setFrameShape(QFrame::NoFrame);
    settings->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    QWidget* inner = buildSettings();
    settings->setWidget(inner);
    settings->setMinimumWidth(inner->minimumSizeHint().width() + settings->verticalScrollBar()->sizeHint().width());
    settings->setMaximumWidth(480);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(settings);
    split->addWidget(buildResults());
    split->setStretchFactor(1, 1);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(split);

    m_debounce = new QTimer(this);
    m_debounce->setSingleShot(true);
    m_debounce->setInterval(300);
    connect(m_debounce, &QTimer::timeout, this, &DataPage::prepare);
    connect(session, &ModelSession::modelLoaded, this, &DataPage::schedulePrepare);
    connect(&m_task, &BackgroundTask::started, this, [this] {
        m_progress->setRange(0, 0);
        m_progress->show();
        m_cancel->show();
        m_status->setText(tr("Preparing the dataset…"));
    });
    connect(&m_task, &BackgroundTask::progressed, this, [this](qint64 done, qint64 total) {
        m_progress->setRange(0, int(std::max<qint64>(total, 1)));
        m_progress->setValue(int(done));
    });
    connect(&m_task, &BackgroundTask::finished, this, [this] {
        m_progress->hide();
        m_cancel->hide();
    });
    connect(&m_task, &BackgroundTask::cancelled, this, [this] { m_status->setText(tr("Preparation cancelled.")); });
    connect(&m_task, &BackgroundTask::failed, this, [this](const QString& message) {
        m_status->setText(tr("<span style=\"color:#c0392b;\">%1</span>").arg(message.toHtmlEscaped()));
        emit prepareFailed(message);
    });
    updateMappingFields();
}

QWidget* DataPage::buildSettings() {
    auto* box = new QWidget(this);
    auto* open = new QPushButton(style()->standardIcon(QStyle::SP_DialogOpenButton), tr("Open dataset…"), box);
    auto* demo = new QPushButton(tr("Demo data"), box);
    demo->setToolTip(tr("The pirate fortunes that ship with the demo model"));
    auto* valid = new QPushButton(tr("Choose file…"), box);
    valid->setToolTip(tr("A separate validation file; without one, a fraction of the training file is held out"));
    connect(open, &QPushButton::clicked, this, &DataPage::chooseDataset);
    connect(demo, &QPushButton::clicked, this, &DataPage::openDemoDataset);
    connect(valid, &QPushButton::clicked, this, &DataPage::chooseValidation);
    m_pathLabel = new QLabel(tr("No dataset yet: JSON Lines, a JSON array or CSV."), box);
    m_pathLabel->setWordWrap(true);
    m_validLabel = new QLabel(box);
    m_validLabel->setObjectName("validationSource");
    m_validLabel->setWordWrap(true);
    m_clearValid = new QPushButton(tr("Split instead"), box);
    m_clearValid->setObjectName("clearValidation");
    m_clearValid->setToolTip(tr("Forget the validation file; hold out the validation split of the training file"));
    m_clearValid->hide();
    connect(m_clearValid, &QPushButton::clicked, this, [this] { setValidationFile({}); });

    auto* form = new QGroupBox(tr("Reading"), box);
    auto* f = new QFormLayout(form);
    f->setRowWrapPolicy(QFormLayout::WrapLongRows);  // a narrow window puts long fields under their label
    m_form = new QComboBox(form);
    const QList<QPair<QString, DataForm>> forms = {
        {tr("Detect"), DataForm::Auto},
        {tr("Alpaca: instruction / input / output"), DataForm::Alpaca},
        {tr("Chat: messages with roles"), DataForm::Chat},
        {tr("ShareGPT: conversations"), DataForm::ShareGpt},
        {tr("Prompt / completion"), DataForm::PromptCompletion},
        {tr("Plain text"), DataForm::Text}};
    for (const auto& [name, value] : forms) m_form->addItem(name, int(value));
    // Long entries elide in the box (the list shows them whole) rather than widen the column.
    for (QComboBox* c : {m_form}) {
        c->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        c->setMinimumContentsLength(18);
    }
    f->addRow(tr("Form"), m_form);
    for (const QString& key : kFieldNames) {
        auto* edit = new QLineEdit(key, form);
        edit->setToolTip(tr("The column or key that holds the %1").arg(key));
        f->addRow(tr("  %1 field").arg(key), edit);
        m_fields[key] = edit;
        connect(edit, &QLineEdit::textEdited, this, &DataPage::schedulePrepare);
    }
    m_template = new QComboBox(form);
    const QList<QPair<QString, TemplateKind>> templates = {
        {tr("The model's own chat template"), TemplateKind::ModelTemplate}, {tr("ChatML"), TemplateKind::ChatML},
        {tr("Llama 3"), TemplateKind::Llama3}, {tr("Llama 2 / Mistral [INST]"), TemplateKind::Llama2},
        {tr("Alpaca"), TemplateKind::Alpaca}, {tr("Zephyr"), TemplateKind::Zephyr},
        {tr("Raw: contents back to back"), TemplateKind::Raw}};
    for (const auto& [name, value] : templates) m_template->addItem(name, int(value));
    m_template->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_template->setMinimumContentsLength(18);
    f->addRow(tr("Template"), m_template);
    m_trainOnInputs = new QCheckBox(tr("Train on prompts too"), form);
    m_trainOnInputs->setToolTip(tr("Off (the default): the loss sees only the responses"));
    f->addRow(QString(), m_trainOnInputs);
    m_validFraction = new QDoubleSpinBox(form);
    m_validFraction->setObjectName("validFraction");
    m_validFraction->setRange(0, 0.9);
    m_validFraction->setSingleStep(0.01);
    m_validFraction->setValue(0.05);
    m_validFraction->setToolTip(tr("Records held out for the validation loss, when there is no validation file"));
    f->addRow(tr("Validation split"), m_validFraction);
    m_skipBad = new QCheckBox(tr("Skip invalid records (listed)"), form);
    m_skipBad->setChecked(true);
    f->addRow(QString(), m_skipBad);
    m_dropOverlong = new QCheckBox(tr("Drop examples over the max length"), form);
    m_dropOverlong->setToolTip(tr("Off: they are truncated to the Hyperparameters page's max sequence length"));
    f->addRow(QString(), m_dropOverlong);
    connect(m_form, &QComboBox::currentIndexChanged, this, [this] {
        updateMappingFields();
        schedulePrepare();
    });
    for (QComboBox* c : {m_template}) connect(c, &QComboBox::currentIndexChanged, this, &DataPage::schedulePrepare);
    for (QCheckBox* c : {m_trainOnInputs, m_skipBad, m_dropOverlong})
        connect(c, &QCheckBox::toggled, this, &DataPage::schedulePrepare);
    connect(m_validFraction, &QDoubleSpinBox::valueChanged, this, [this] {
        showValidationSource();
        schedulePrepare();
    });

    auto* prepareButton = new QPushButton(tr("Prepare again"), box);
    connect(prepareButton, &QPushButton::clicked, this, &DataPage::prepare);
    m_progress = new QProgressBar(box);
    m_progress->hide();
    m_cancel = new QPushButton(tr("Cancel"), box);
    m_cancel->hide();
    connect(m_cancel, &QPushButton::clicked, &m_task, &BackgroundTask::cancel);

    auto* buttons = new QHBoxLayout;
    buttons->addWidget(open);
    buttons->addWidget(demo);
    buttons->addStretch(1);
    auto* run = new QHBoxLayout;
    run->addWidget(prepareButton);
    run->addWidget(m_progress, 1);
    run->addWidget(m_cancel);
    auto* v = new QVBoxLayout(box);
    v->addLayout(buttons);
    v->addWidget(m_pathLabel);
    auto* validRow = new QHBoxLayout;
    validRow->addWidget(m_validLabel, 1);
    validRow->addWidget(valid);
    validRow->addWidget(m_clearValid);
    v->addLayout(validRow);
    v->addWidget(form);
    v->addLayout(run);
    v->addStretch(1);
    box->setMaximumWidth(460);
    return box;
}

QWidget* DataPage::buildResults() {
    auto* box = new QWidget(this);
    m_status = new QLabel(box);
    m_status->setWordWrap(true);
    m_stats = new QLabel(box);
    m_stats->setObjectName("datasetStats");
    m_stats->setWordWrap(true);
    m_stats->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_histogram = new LengthHistogramChart(box);
    m_example = new QSpinBox(box);
    m_example->setRange(1, 1);
    m_example->setPrefix(tr("example "));
    connect(m_example, &QSpinBox::valueChanged, this, [this](int v) { showExample(v - 1); });
    auto* legend = new QLabel(tr("<span style=\"background:#bfe8c8;color:#111;\">&nbsp;trained&nbsp;</span> "
                                 "<span style=\"background:#e8e8e8;color:#111;\">&nbsp;masked (prompt)&nbsp;</span> "
                                 "— shades alternate at token boundaries"),
                              box);
    legend->setWordWrap(true);
    m_preview = new QTextBrowser(box);
    m_preview->setObjectName("examplePreview");
    m_issues = new QListWidget(box);
    m_issues->setObjectName("issueList");

    auto* previewBox = new QWidget(box);
    auto* pv = new QVBoxLayout(previewBox);
    pv->setContentsMargins(0, 0, 0, 0);
    auto* row = new QHBoxLayout;
    row->addWidget(m_example);
    row->addWidget(legend, 1);
    pv->addLayout(row);
    pv->addWidget(m_preview, 1);
    // The examples and the invalid records share the space the preview needs: as tabs each
    // gets the page's full width (a record's reason is a long line), and so does the histogram.
    m_resultTabs = new QTabWidget(box);
    m_resultTabs->addTab(previewBox, tr("Examples"));
    m_resultTabs->addTab(m_issues, tr("Invalid records"));
    auto* split = new QSplitter(Qt::Vertical, box);
    split->addWidget(m_resultTabs);
    split->addWidget(m_histogram);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    auto* v = new QVBoxLayout(box);
    v->setContentsMargins(0, 0, 0, 0);
    v->addWidget(m_status);
    v->addWidget(m_stats);
    v->addWidget(split, 1);
    return box;
}

void DataPage::updateMappingFields() {
    const QStringList used = fieldsOf(DataForm(m_form->currentData().toInt()));
    for (auto it = m_fields.begin(); it != m_fields.end(); ++it) it.value()->setEnabled(used.contains(it.key()));
}

DatasetOptions DataPage::options() const {
    DatasetOptions o;
    o.path = m_path.toStdString();
    o.valid_path = m_validPath.toStdString();
    o.form = DataForm(m_form->currentData().toInt());
    o.mapping.instruction = m_fields["instruction"]->text().toStdString();
    o.mapping.input = m_fields["input"]->text().toStdString();
    o.mapping.output = m_fields["output"]->text().toStdString();
    o.mapping.messages = m_fields["messages"]->text().toStdString();
    o.mapping.prompt = m_fields["prompt"]->text().toStdString();
    o.mapping.completion = m_fields["completion"]->text().toStdString();
    o.mapping.text = m_fields["text"]->text().toStdString();
    o.chat_template = TemplateKind(m_template->currentData().toInt());
    o.train_on_inputs = m_trainOnInputs->isChecked();
    o.max_seq_len = std::size_t(m_maxSeqLen);
    o.overlong = m_dropOverlong->isChecked() ? OverlongPolicy::Drop : OverlongPolicy::Truncate;
    o.valid_fraction = m_validFraction->value();
    o.bad_policy = m_skipBad->isChecked() ? BadDataPolicy::Skip : BadDataPolicy::Stop;
    return o;
}

void DataPage::openDataset(const QString& path) {
    // A validation file belongs to the training file it was chosen with (the demo's would
    // reject every record of another dataset): a new training file starts from its own split.
    if (!m_validPath.isEmpty()) setValidationFile({});
    m_path = QFileInfo(path).absoluteFilePath();
    m_pathLabel->setText(tr("<b>%1</b><br>%2").arg(QFileInfo(path).fileName().toHtmlEscaped(), m_path.toHtmlEscaped()));
    showValidationSource();
    emit datasetOpened(m_path);
    prepare();
}

void DataPage::openDemoDataset() {
    const QString data = QString::fromStdString((demo_model_dir().parent_path() / "data").string());
    openDataset(data + "/pirate_fortunes_train.jsonl");
    setValidationFile(data + "/pirate_fortunes_valid.jsonl");
}

void DataPage::setValidationFile(const QString& path) {
    m_validPath = path.isEmpty() ? QString() : QFileInfo(path).absoluteFilePath();
    m_validFraction->setEnabled(m_validPath.isEmpty());
    m_clearValid->setVisible(!m_validPath.isEmpty());
    showValidationSource();
    schedulePrepare();
}

void DataPage::showValidationSource() {
    if (!m_validPath.isEmpty())
        m_validLabel->setText(tr("Validation: <b>%1</b>").arg(QFileInfo(m_validPath).fileName().toHtmlEscaped()));
    else if (m_path.isEmpty())
        m_validLabel->setText(tr("Validation: a split of the training file"));
    else
        m_validLabel->setText(tr("Validation: %1% of the training file, held out")
                                  .arg(m_validFraction->value() * 100.0, 0, 'g', 3));
}

void DataPage::setMaxSeqLen(int tokens) {
    if (tokens == m_maxSeqLen) return;
    m_maxSeqLen = tokens;
    schedulePrepare();
}

void DataPage::schedulePrepare() {
    m_prepared = false;
    if (!m_path.isEmpty()) m_debounce->start();
}

void DataPage::prepare() {
    m_debounce->stop();
    m_prepared = false;
    if (m_path.isEmpty()) return;
    if (!m_session->hasModel()) {
        m_status->setText(tr("Open a model first: the preview and the lengths need its tokenizer."));
        return;
    }
    if (m_maxSeqLen < 8) {
        m_status->setText(tr("The max sequence length (Hyperparameters page) must be at least 8."));
        return;
    }
    const DatasetOptions o = options();
    std::shared_ptr<const Model> model = m_session->model();
    m_task.start(tr("Preparing the dataset"), [this, o, model](const ProgressFn& progress) -> BackgroundTask::Delivery {
        DatasetView view = prepareDatasetView(o, *model, progress);
        return [this, view = std::move(view)]() mutable { onPrepared(std::move(view)); };
    });
}

void DataPage::onPrepared(DatasetView view) {
    m_view = std::move(view);
    m_prepared = true;
    const DatasetStats& s = m_view.stats;
    m_status->setText(tr("Detected form: <b>%1</b>").arg(QString::fromLatin1(data_form_name(m_view.form).data())));
    m_stats->setText(statsText(s, !m_validPath.isEmpty()));
    m_resultTabs->setTabText(1, tr("Invalid records (%1)").arg(m_view.issues.size()));
    m_histogram->setStats(s);
    m_histogram->resetView();
    m_issues->clear();
    for (const DataIssue& issue : m_view.issues) m_issues->addItem(QString::fromStdString(issue.to_string()));
    if (m_view.issues.empty()) m_issues->addItem(tr("(none)"));
    m_example->setRange(1, std::max(1, int(m_view.previews.size())));
    m_example->setValue(1);
    showExample(0);
    emit prepared();
}

void DataPage::showExample(int index) {
    if (index < 0 || index >= m_view.previews.size()) {
        m_preview->clear();
        return;
    }
    m_preview->setHtml(tr("<p style=\"color:gray;\">line %1 of %2</p>%3")
                           .arg(m_view.previewLines[index])
                           .arg(QFileInfo(m_path).fileName().toHtmlEscaped(), m_view.previews[index]));
}

void DataPage::chooseDataset() {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open a dataset"), QSettings().value("lastDataDir").toString(),
                                                      tr("Datasets (*.jsonl *.json *.csv);;All files (*)"));
    if (path.isEmpty()) return;
    QSettings().setValue("lastDataDir", QFileInfo(path).absolutePath());
    openDataset(path);
}

void DataPage::chooseValidation() {
    const QString path = QFileDialog::getOpenFileName(this, tr("Validation file"),
                                                      QSettings().value("lastDataDir").toString(),
                                                      tr("Datasets (*.jsonl *.json *.csv);;All files (*)"));
    if (!path.isEmpty()) setValidationFile(path);
}

}  // namespace qls::ui
