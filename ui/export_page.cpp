#include "ui/export_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDesktopServices>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QStyle>
#include <QTimer>
#include <QTreeWidget>
#include <QUrl>
#include <QVBoxLayout>

#include <algorithm>
#include <utility>

#include "core/train/trainer.h"
#include "core/util/error.h"
#include "ui/model_session.h"
#include "ui/run_adapter.h"
#include "ui/ui_format.h"

namespace qls::ui {

namespace {

namespace fs = std::filesystem;

// exportGgufType's item data for a llama.cpp mix: this plus the GgufQuantMix (ggml type ids stay below).
constexpr int kMixData = 1000;

enum SourceKind { RunSource = 0, AdapterSource = 1 };

fs::path toPath(const QString& s) { return fs::path(s.trimmed().toStdString()); }
QString toQString(const fs::path& p) { return QString::fromStdString(p.string()); }

QString hintFor(const QString& error) {
    if (error.contains("Permission denied") || error.contains("Read-only file system"))
        return QObject::tr("Choose a folder you can write to.");
    if (error.contains("No space left") || error.contains("File too large") || error.contains("disk full"))
        return QObject::tr("Free some disk space or choose another drive.");
    return {};
}

QLineEdit* pathEdit(QWidget* parent, const QString& name, const QString& placeholder) {
    auto* edit = new QLineEdit(parent);
    edit->setObjectName(name);
    edit->setPlaceholderText(placeholder);
    return edit;
}

}  // namespace

ExportPage::ExportPage(ModelSession* session, QWidget* parent) : QWidget(parent), m_session(session) {
    auto* heading = new QLabel(tr("Export"), this);
    QFont big = heading->font();
    big.setPointSizeF(big.pointSizeF() * 1.4);
    big.setBold(true);
    heading->setFont(big);
    auto* subheading = new QLabel(tr("Write the adapter as a PEFT folder that peft loads unchanged, or the model "
                                     "merged with it for transformers, llama.cpp and Ollama."),
                                  this);
    subheading->setWordWrap(true);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(heading);
    layout->addWidget(subheading);
    layout->addWidget(buildSource());
    layout->addWidget(buildOutputs());
    layout->addWidget(buildResult(), 1);

    connect(&m_task, &BackgroundTask::progressed, this, [this](qint64 done, qint64 total) {
        m_progress->setRange(0, 1000);
        m_progress->setValue(total > 0 ? int(1000 * done / total) : 0);
    });
    connect(&m_task, &BackgroundTask::failed, this, [this](const QString& error) {
        const QString hint = hintFor(error);
        showMessage(tr("<b style=\"color:#c62828\">%1 failed</b><br>%2%3")
                        .arg(m_task.operation() == tr("Exporting") ? tr("Export") : tr("Push"), error.toHtmlEscaped(),
                             hint.isEmpty() ? QString() : "<br>" + hint),
                    true);
    });
    connect(&m_task, &BackgroundTask::cancelled, this, [this] {
        showMessage(tr("Export cancelled. Outputs finished before the cancel are complete; nothing was left "
                       "half-written."),
                    true);
    });
    connect(&m_task, &BackgroundTask::finished, this, [this] {
        updateControls();
        emit exportFinished(!m_failed);
    });
    connect(m_session, &ModelSession::modelLoaded, this, [this] {
        if (m_modelPath->text().isEmpty() && m_session->model())
            m_modelPath->setText(toQString(m_session->model()->path));
    });
    refreshSource();
}

QWidget* ExportPage::buildSource() {
    auto* box = new QGroupBox(tr("Source and destination"), this);
    auto* form = new QFormLayout(box);
    m_sourceKind = new QComboBox(box);
    m_sourceKind->setObjectName("exportSourceKind");
    m_sourceKind->addItem(tr("Training run folder"));
    m_sourceKind->addItem(tr("PEFT adapter folder"));
    m_sourcePath = pathEdit(box, "exportSource", tr("The run (or adapter) folder"));
    m_modelPath = pathEdit(box, "exportModel", tr("Hugging Face folder or .gguf file (for merged and GGUF outputs)"));
    m_destination = pathEdit(box, "exportDestination", tr("Where the outputs go"));
    m_sourceInfo = new QLabel(box);
    m_sourceInfo->setObjectName("exportSourceInfo");
    m_sourceInfo->setWordWrap(true);
    auto row = [&](QLineEdit* edit, bool folder, const QString& title) {
        auto* h = new QHBoxLayout;
        auto* button = new QPushButton(tr("Browse…"), box);
        connect(button, &QPushButton::clicked, this, [=, this] { browse(edit, folder, title); });
        h->addWidget(edit, 1);
        h->addWidget(button);
        return h;
    };
    form->addRow(tr("Source"), m_sourceKind);
    form->addRow(tr("Folder"), row(m_sourcePath, true, tr("Source folder")));
    form->addRow(QString(), m_sourceInfo);
    form->addRow(tr("Base model"), row(m_modelPath, true, tr("Base model folder")));
    form->addRow(tr("Destination"), row(m_destination, true, tr("Destination folder")));
    connect(m_sourceKind, &QComboBox::currentIndexChanged, this, &ExportPage::refreshSource);
    connect(m_sourcePath, &QLineEdit::editingFinished, this, &ExportPage::refreshSource);
    return box;
}

QWidget* ExportPage::buildOutputs() {
    auto* box = new QGroupBox(tr("Outputs"), this);
    auto* form = new QFormLayout(box);
    m_peft = new QCheckBox(tr("PEFT adapter folder: adapter_config.json, adapter_model.safetensors, README.md"), box);
    m_peft->setObjectName("exportPeft");
    m_peft->setChecked(true);
    m_merged = new QCheckBox(tr("Merged model, bf16 safetensors with config and tokenizer (transformers, vLLM)"), box);
    m_merged->setObjectName("exportMerged");
    m_gguf = new QCheckBox(tr("Merged model as one GGUF file with an Ollama Modelfile (llama.cpp, Ollama)"), box);
    m_gguf->setObjectName("exportGguf");
    m_ggufLora = new QCheckBox(tr("GGUF LoRA adapter and its base as GGUF (llama.cpp -m base --lora adapter)"), box);
    m_ggufLora->setObjectName("exportGgufLora");
    m_axolotl = new QCheckBox(tr("The run for axolotl on several GPUs: config.yml, its data, launch README "
                                 "(DeepSpeed, FSDP)"), box);
    m_axolotl->setObjectName("exportAxolotl");
    m_axolotl->setToolTip(tr("Only for a training run folder: axolotl gets the run's settings and the exact "
                             "tokens it trained on"));
    m_ggufType = new QComboBox(box);
    m_ggufType->setObjectName("exportGgufType");
    m_ggufType->addItem(tr("F16"), int(GgmlType::F16));
    m_ggufType->addItem(tr("BF16"), int(GgmlType::BF16));
    m_ggufType->addItem(tr("Q8_0 (8-bit)"), int(GgmlType::Q8_0));
    // llama-quantize's mixes (per-tensor types); their data sits above every ggml type id.
    for (GgufQuantMix mix : {GgufQuantMix::Q6_K, GgufQuantMix::Q5_K_M, GgufQuantMix::Q4_K_M})
        m_ggufType->addItem(tr("%1 (llama.cpp mix)").arg(QString::fromLatin1(gguf_mix_name(mix).data())),
                            kMixData + int(mix));
    m_mergeOnto = new QComboBox(box);
    m_mergeOnto->setObjectName("exportMergeOnto");
    m_mergeOnto->addItem(tr("The 4-bit base the adapter was trained on, dequantized"));
    m_mergeOnto->addItem(tr("The original weights"));
    m_mergeOnto->setToolTip(tr("The adapter learned to correct the 4-bit base; merging onto it reproduces "
                               "what training saw"));
    form->addRow(m_peft);
    form->addRow(m_merged);
    form->addRow(m_gguf);
    form->addRow(m_ggufLora);
    form->addRow(m_axolotl);
    form->addRow(tr("GGUF tensor type"), m_ggufType);
    form->addRow(tr("Merge onto"), m_mergeOnto);
    for (QCheckBox* c : {m_peft, m_merged, m_gguf, m_ggufLora, m_axolotl})
        connect(c, &QCheckBox::toggled, this, &ExportPage::updateControls);
    return box;
}

QWidget* ExportPage::buildResult() {
    auto* box = new QWidget(this);
    m_export = new QPushButton(style()->standardIcon(QStyle::SP_DialogSaveButton), tr("Export"), box);
    m_export->setObjectName("exportStart");
    m_export->setDefault(true);
    m_push = new QPushButton(tr("Push to Hub…"), box);
    m_push->setObjectName("exportPush");
    m_push->setToolTip(tr("Upload the export (or the adapter) to a Hugging Face model repository"));
    m_cancel = new QPushButton(tr("Cancel"), box);
    m_cancel->setObjectName("exportCancel");
    m_progress = new QProgressBar(box);
    m_progress->setObjectName("exportProgress");
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    m_phase = new QLabel(box);
    m_phase->setObjectName("exportPhase");
    auto* open = new QPushButton(style()->standardIcon(QStyle::SP_DirOpenIcon), tr("Open folder"), box);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_export);
    buttons->addWidget(m_push);
    buttons->addWidget(m_cancel);
    buttons->addWidget(m_progress, 1);
    buttons->addWidget(m_phase);
    buttons->addWidget(open);
    m_message = new QLabel(box);
    m_message->setObjectName("exportMessage");
    m_message->setWordWrap(true);
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_message->setFrameShape(QFrame::StyledPanel);
    m_message->setMargin(6);
    m_message->hide();
    m_files = new QTreeWidget(box);
    m_files->setObjectName("exportFiles");
    m_files->setHeaderLabels({tr("Written file"), tr("Size")});
    m_files->setRootIsDecorated(false);
    m_files->header()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_files->header()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
    auto* v = new QVBoxLayout(box);
    v->setContentsMargins(0, 0, 0, 0);
    v->addLayout(buttons);
    v->addWidget(m_message);
    v->addWidget(m_files, 1);
    connect(m_export, &QPushButton::clicked, this, &ExportPage::startExport);
    connect(m_push, &QPushButton::clicked, this, &ExportPage::pushToHub);
    connect(m_cancel, &QPushButton::clicked, this, &ExportPage::cancel);
    connect(open, &QPushButton::clicked, this,
            [this] { QDesktopServices::openUrl(QUrl::fromLocalFile(m_destination->text().trimmed())); });
    return box;
}

void ExportPage::browse(QLineEdit* edit, bool folder, const QString& title) {
    const QString path = folder ? QFileDialog::getExistingDirectory(this, title, edit->text())
                                : QFileDialog::getOpenFileName(this, title, edit->text());
    if (path.isEmpty()) return;
    edit->setText(path);
    if (edit == m_sourcePath) {
        m_destination->clear();  // a new source gets its own default destination
        refreshSource();
    }
}

void ExportPage::setRunFolder(const QString& runDir) {
    m_sourceKind->blockSignals(true);
    m_sourceKind->setCurrentIndex(RunSource);
    m_sourceKind->blockSignals(false);
    m_sourcePath->setText(runDir);
    m_modelPath->clear();
    m_destination->clear();
    refreshSource();
}

void ExportPage::setAdapterFolder(const QString& adapterDir, const QString& baseModel) {
    m_sourceKind->blockSignals(true);
    m_sourceKind->setCurrentIndex(AdapterSource);
    m_sourceKind->blockSignals(false);
    m_sourcePath->setText(adapterDir);
    if (!baseModel.isEmpty()) m_modelPath->setText(baseModel);
    m_destination->clear();
    refreshSource();
}

void ExportPage::setDestination(const QString& dir) { m_destination->setText(dir); }
QString ExportPage::destination() const { return m_destination->text().trimmed(); }

void ExportPage::setOutputs(const ExportOutputs& o) {
    m_peft->setChecked(o.peft);
    m_merged->setChecked(o.merged);
    m_gguf->setChecked(o.gguf);
    m_ggufLora->setChecked(o.ggufLora);
    m_axolotl->setChecked(o.axolotl);
    const int data = o.ggufMix ? kMixData + int(*o.ggufMix) : int(o.ggufType);
    m_ggufType->setCurrentIndex(std::max(0, m_ggufType->findData(data)));
}

ExportOutputs ExportPage::outputs() const {
    const int data = m_ggufType->currentData().toInt();
    const bool axolotl = m_axolotl->isChecked() && m_axolotl->isEnabled();
    if (data >= kMixData)
        return {m_peft->isChecked(), m_merged->isChecked(), m_gguf->isChecked(), m_ggufLora->isChecked(),
                GgmlType::F16, GgufQuantMix(data - kMixData), axolotl};
    return {m_peft->isChecked(), m_merged->isChecked(), m_gguf->isChecked(), m_ggufLora->isChecked(),
            GgmlType(data), std::nullopt, axolotl};
}

QString ExportPage::message() const { return m_message->isHidden() ? QString() : m_message->text(); }

QStringList ExportPage::writtenFiles() const {
    QStringList files;
    for (int i = 0; i < m_files->topLevelItemCount(); ++i) files << m_files->topLevelItem(i)->text(0);
    return files;
}

void ExportPage::refreshSource() {
    m_run.reset();
    m_runDir.clear();
    m_adapterDir.clear();
    m_steps = 0;
    m_sourceError.clear();
    const fs::path dir = toPath(m_sourcePath->text());
    const bool isRun = m_sourceKind->currentIndex() == RunSource;
    QString info;
    try {
        if (dir.empty()) {
            info = isRun ? tr("Choose a training run folder.") : tr("Choose a PEFT adapter folder.");
        } else if (isRun) {
            const RunAdapter adapter = runAdapter(dir);
            m_run = Trainer::config_of_run(dir);
            m_runDir = dir;
            m_adapterDir = adapter.dir;
            m_steps = std::max<std::int64_t>(adapter.step, 0);
            if (m_modelPath->text().trimmed().isEmpty()) m_modelPath->setText(toQString(m_run->model));
            const fs::path clean = dir.has_filename() ? dir : dir.parent_path();
            if (m_destination->text().trimmed().isEmpty())
                m_destination->setText(toQString(clean.parent_path() / (clean.filename().string() + "-export")));
            info = tr("Exports the %1.").arg(adapter.description);
            if (adapter.step >= 0) info += " " + tr("The run has no final adapter yet (still training or stopped early).");
        } else {
            QLS_CHECK(ConfigError, fs::is_regular_file(dir / "adapter_config.json"), "'", dir.string(),
                      "' holds no adapter_config.json: choose a PEFT adapter folder");
            m_adapterDir = dir;
            if (m_modelPath->text().trimmed().isEmpty() && m_session->model())
                m_modelPath->setText(toQString(m_session->model()->path));
            const fs::path clean = dir.has_filename() ? dir : dir.parent_path();
            if (m_destination->text().trimmed().isEmpty())
                m_destination->setText(toQString(clean.parent_path() / (clean.filename().string() + "-export")));
            info = tr("Exports the adapter in %1.").arg(toQString(clean.filename()));
        }
    } catch (const std::exception& e) {
        m_sourceError = QString::fromStdString(e.what());
        info = m_sourceError;
    }
    m_sourceInfo->setText(info);
    // Merging onto what training saw is the default whenever the run says what that was.
    m_mergeOnto->setCurrentIndex(m_run && m_run->base.quant ? 0 : 1);
    updateControls();
}

void ExportPage::updateControls() {
    const bool busy = m_task.isRunning();
    m_axolotl->setEnabled(!busy && m_run.has_value());  // axolotl needs the run's settings and data
    const ExportOutputs o = outputs();
    const bool merging = o.merged || o.gguf;
    m_export->setEnabled(!busy && (o.peft || merging || o.ggufLora || o.axolotl) && !m_adapterDir.empty());
    m_push->setEnabled(!busy && !pushSource().empty());
    m_cancel->setEnabled(busy);
    for (QWidget* w : std::initializer_list<QWidget*>{m_sourceKind, m_sourcePath, m_modelPath, m_destination})
        w->setEnabled(!busy);
    m_modelPath->setEnabled(!busy && (merging || o.ggufLora || o.axolotl));
    m_ggufType->setEnabled(o.gguf || o.ggufLora);
    // Only a run says which 4-bit base its adapter was trained on.
    m_mergeOnto->setEnabled(m_run && m_run->base.quant && merging);
    if (!busy) m_phase->clear();
}

void ExportPage::showMessage(const QString& html, bool failed) {
    m_failed = failed;
    m_message->setText(html);
    m_message->show();
}

void ExportPage::startExport() {
    if (m_task.isRunning()) return;
    refreshSource();  // a run may have written a newer checkpoint or its final adapter since
    ExportRequest r;
    r.adapterDir = m_adapterDir;
    r.runDir = m_runDir;
    r.force = std::exchange(m_forceNext, false);
    r.modelPath = toPath(m_modelPath->text());
    r.run = m_run;
    r.steps = m_steps;
    r.destination = toPath(m_destination->text());
    r.outputs = outputs();
    r.mergeOntoQuantized = m_mergeOnto->isEnabled() && m_mergeOnto->currentIndex() == 0;
    QString problem = m_sourceError;
    if (problem.isEmpty() && r.destination.empty()) problem = tr("Choose a destination folder.");
    if (problem.isEmpty() && r.modelPath.empty() && (r.outputs.merged || r.outputs.gguf || r.outputs.ggufLora))
        problem = tr("Choose the base model: merged and GGUF outputs are written from it.");
    m_files->clear();
    if (!problem.isEmpty()) {
        showMessage(tr("<b style=\"color:#c62828\">Cannot export</b><br>%1").arg(problem.toHtmlEscaped()), true);
        return;
    }
    m_message->hide();
    m_failed = false;
    m_progress->setValue(0);
    m_task.start(tr("Exporting"), [this, r, loaded = m_session->model()](const ProgressFn& progress) {
        const auto phase = [this](const std::string& text) {
            QMetaObject::invokeMethod(
                this, [this, t = QString::fromStdString(text)] { m_phase->setText(t + "…"); }, Qt::QueuedConnection);
        };
        ExportOutcome outcome = runExport(r, loaded, progress, phase);
        return BackgroundTask::Delivery([this, outcome = std::move(outcome)] { showOutcome(outcome); });
    });
    updateControls();
}

void ExportPage::showOutcome(const ExportOutcome& outcome) {
    std::uint64_t total = 0;
    for (const ExportedFile& f : outcome.files) {
        auto* item = new QTreeWidgetItem(m_files, {QString::fromStdString(f.path.generic_string()),
                                                   formatBytes(double(f.bytes))});
        item->setTextAlignment(1, Qt::AlignRight | Qt::AlignVCenter);
        total += f.bytes;
    }
    const QString dest = m_destination->text().trimmed().toHtmlEscaped();
    if (outcome.error.empty()) {
        showMessage(tr("<b>Exported</b> %1 files (%2) into %3").arg(outcome.files.size()).arg(formatBytes(double(total))).arg(dest),
                    false);
        return;
    }
    const QString error = QString::fromStdString(outcome.error);
    if (outcome.forceWouldHelp) {
        const bool replace = m_askReplace ? m_askReplace(error)
                                          : QMessageBox::question(this, tr("Replace files?"),
                                                                  tr("%1\n\nWrite the export into it anyway? Files of the "
                                                                     "names the export writes are replaced; everything "
                                                                     "else there is kept.")
                                                                      .arg(error),
                                                                  QMessageBox::Yes | QMessageBox::Cancel,
                                                                  QMessageBox::Cancel) == QMessageBox::Yes;
        if (replace) {
            // This round wrote nothing; the next, started once this one has finished, writes with force.
            m_failed = true;
            m_forceNext = true;
            QTimer::singleShot(0, this, &ExportPage::startExport);
            return;
        }
    }
    const QString hint = hintFor(error);
    showMessage(tr("<b style=\"color:#c62828\">The %1 could not be written</b><br>%2%3<br>%4")
                    .arg(QString::fromStdString(outcome.failedOutput), error.toHtmlEscaped(),
                         hint.isEmpty() ? QString() : "<br>" + hint,
                         outcome.files.empty()
                             ? tr("Nothing was written.")
                             : tr("The files listed were written completely; nothing of the failed output was left "
                                  "behind.")),
                true);
}

}  // namespace qls::ui
