#include "ui/hparams_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSaveFile>
#include <QScrollArea>
#include <QSettings>
#include <QSpinBox>
#include <QTableWidget>
#include <QTimer>

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/backend/backend_registry.h"
#include "core/train/fit_search.h"
#include "core/train/longest_seq.h"
#include "core/train/offload_choice.h"
#include "core/train/run_budget.h"
#include "ui/model_session.h"
#include "ui/ui_format.h"

namespace qls::ui {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kGiB = kMiB * 1024.0;


double parseNumber(const QLineEdit* edit) {
    bool ok = false;
    const double v = edit->text().trimmed().toDouble(&ok);
    return ok ? v : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

HparamsPage::HparamsPage(ModelSession* session, QWidget* parent) : QWidget(parent), m_session(session) {
    m_preset = new QComboBox(this);
    m_preset->setObjectName("presetChoice");
    m_preset->addItem(tr("Defaults"));  // item 0: where the settings shown came from, or Custom
    const std::vector<DeviceOption> devices = device_options();
    for (Preset p : kAllPresets) {
        m_preset->addItem(presetName(p));
        const int row = m_preset->count() - 1;
        m_preset->setItemData(row, presetSummary(p), Qt::ToolTipRole);
        // A card's preset trains on that card: offered only where there is one.
        if (presetNamesACard(p) && presetDevice(p, devices).empty()) {
            m_preset->setItemData(row, QVariant(0), Qt::UserRole - 1);  // Qt::ItemIsEnabled off
            m_preset->setItemData(row,
                                  tr("No %1 in this machine, so this preset cannot train here. The Model page "
                                     "checks whether a model fits one.")
                                      .arg(presetName(p)),
                                  Qt::ToolTipRole);
        }
    }
    connect(m_preset, &QComboBox::activated, this, [this](int index) {
        if (index > 0) applyPreset(kAllPresets[index - 1]);
    });
    auto* save = new QPushButton(tr("Save settings…"), this);
    save->setToolTip(tr("Write these settings as a run.json config (qlora train --config reads it)"));
    auto* load = new QPushButton(tr("Load settings…"), this);
    load->setToolTip(tr("Read the settings of a run.json (a past run's, or a saved one)"));
    auto* defaults = new QPushButton(tr("Defaults"), this);
    connect(save, &QPushButton::clicked, this, &HparamsPage::chooseSave);
    connect(load, &QPushButton::clicked, this, &HparamsPage::chooseLoad);
    connect(defaults, &QPushButton::clicked, this, [this] { setConfig(TrainConfig{}, tr("Defaults")); });
    m_undo = new QPushButton(this);
    m_undo->setObjectName("undoSettings");
    m_undo->hide();
    connect(m_undo, &QPushButton::clicked, this, &HparamsPage::undo);
    m_summary = new QLabel(this);
    m_summary->setObjectName("hparamsSummary");
    m_summary->setWordWrap(true);

    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Preset:"), this));
    top->addWidget(m_preset);
    top->addWidget(defaults);
    top->addWidget(save);
    top->addWidget(load);
    top->addWidget(m_undo);
    top->addStretch(1);

    m_grid = new QGridLayout;
    m_groups = {buildLora(), buildOptimizer(), buildSteps(), buildRun(), buildMemory(), buildEstimate()};
    auto* body = new QWidget(this);
    body->setLayout(m_grid);
    reflow(3);
    auto* scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setWidget(body);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(m_summary);
    layout->addWidget(scroll, 1);

    m_estimateTimer = new QTimer(this);
    m_estimateTimer->setSingleShot(true);
    m_estimateTimer->setInterval(150);
    connect(m_estimateTimer, &QTimer::timeout, this, &HparamsPage::updateEstimate);
    connect(session, &ModelSession::modelLoaded, m_estimateTimer, qOverload<>(&QTimer::start));
    connect(session, &ModelSession::configOpened, m_estimateTimer, qOverload<>(&QTimer::start));
    connect(session, &ModelSession::quantSettingsChanged, this, &HparamsPage::onChanged);
    setConfig(TrainConfig{});
    setOrigin(0, tr("Defaults"));
}


// Three columns of groups on a wide window, fewer on a narrow one: the fields then scroll down,
// where a user looks, instead of off to the right.
void HparamsPage::reflow(int columns) {
    if (columns == m_columns) return;
    m_columns = columns;
    for (QWidget* g : m_groups) m_grid->removeWidget(g);
    for (int i = 0; i < m_groups.size(); ++i) m_grid->addWidget(m_groups[i], i / columns, i % columns);
}

void HparamsPage::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    int widest = 0;
    for (QWidget* g : m_groups) widest = std::max(widest, g->minimumSizeHint().width());
    const int spacing = m_grid->horizontalSpacing() + 2;
    const int fit = std::max(1, (width() - 24 + spacing) / (widest + spacing));  // 24: margins and scroll bar
    reflow(std::min(3, fit));
}

TrainConfig HparamsPage::config(TrainConfig c) const {
    c.lora.rank = m_rank->value();
    c.lora.alpha = m_alpha->value();
    c.lora.dropout = m_dropout->value();
    c.lora.rslora = m_rslora->isChecked();
    c.lora.targets.clear();
    for (int i = 0; i < m_targets.size(); ++i)
        if (m_targets[i]->isChecked()) c.lora.targets.push_back(kAllLoraTargets[std::size_t(i)]);
    c.optim.adamw.lr = parseNumber(m_lr);
    c.optim.adamw.eps = parseNumber(m_eps);
    c.optim.adamw.beta1 = m_beta1->value();
    c.optim.adamw.beta2 = m_beta2->value();
    c.optim.adamw.weight_decay = m_weightDecay->value();
    c.optim.adamw.max_grad_norm = m_maxGradNorm->value();
    c.optim.schedule.type = LrScheduleType(m_schedule->currentData().toInt());
    c.optim.schedule.warmup_steps = m_warmupSteps->value();
    c.optim.schedule.warmup_ratio = m_warmupRatio->value();
    c.optim.paging.device_budget_bytes = std::int64_t(std::llround(m_budgetMiB->value() * kMiB));
    c.optim.paging.page_bytes = std::int64_t(m_pageKiB->value()) * 1024;
    c.epochs = m_epochs->value();
    c.max_steps = m_maxSteps->value();
    c.micro_batch = m_microBatch->value();
    c.grad_accum = m_gradAccum->value();
    c.data.max_seq_len = std::size_t(std::max(0, m_seqLen->value()));
    c.data.packing = m_packing->isChecked();
    c.eval_every = m_evalEvery->value();
    c.save_every = m_saveEvery->value();
    c.keep_checkpoints = m_keep->value();
    c.early_stop_patience = m_patience->value();
    c.early_stop_min_delta = m_minDelta->value();
    c.seed = std::uint64_t(m_seed->value());
    c.lora.seed = c.seed;
    c.checkpointing = m_checkpointing->isChecked();
    c.offload_checkpoints = m_offload->currentData().toString().toStdString();
    c.device_limit_bytes = std::int64_t(std::llround(m_deviceLimitGiB->value() * kGiB));
    c.device = m_device->currentData().toString().toStdString();
    c.compute_dtype = m_computeDtype->currentData().toString().toStdString();
    return c;
}

void HparamsPage::setConfig(const TrainConfig& c, const QString& origin) {
    const TrainConfig before = config();
    m_loading = true;
    m_rank->setValue(int(c.lora.rank));
    m_alpha->setValue(c.lora.alpha);
    m_dropout->setValue(c.lora.dropout);
    m_rslora->setChecked(c.lora.rslora);
    for (int i = 0; i < m_targets.size(); ++i) m_targets[i]->setChecked(c.lora.targets_module(kAllLoraTargets[std::size_t(i)]));
    m_lr->setText(QString::number(c.optim.adamw.lr, 'g', 6));
    m_eps->setText(QString::number(c.optim.adamw.eps, 'g', 6));
    m_beta1->setValue(c.optim.adamw.beta1);
    m_beta2->setValue(c.optim.adamw.beta2);
    m_weightDecay->setValue(c.optim.adamw.weight_decay);
    m_maxGradNorm->setValue(c.optim.adamw.max_grad_norm);
    m_schedule->setCurrentIndex(m_schedule->findData(int(c.optim.schedule.type)));
    m_warmupSteps->setValue(int(c.optim.schedule.warmup_steps));
    m_warmupRatio->setValue(c.optim.schedule.warmup_ratio);
    m_budgetMiB->setValue(double(c.optim.paging.device_budget_bytes) / kMiB);
    m_pageKiB->setValue(int(c.optim.paging.page_bytes / 1024));
    m_epochs->setValue(c.epochs);
    m_maxSteps->setValue(int(c.max_steps));
    m_microBatch->setValue(int(c.micro_batch));
    m_gradAccum->setValue(int(c.grad_accum));
    m_seqLen->setValue(int(c.data.max_seq_len));
    m_packing->setChecked(c.data.packing);
    m_evalEvery->setValue(int(c.eval_every));
    m_saveEvery->setValue(int(c.save_every));
    m_keep->setValue(int(c.keep_checkpoints));
    m_patience->setValue(int(c.early_stop_patience));
    m_minDelta->setValue(c.early_stop_min_delta);
    m_seed->setValue(int(c.seed));
    m_checkpointing->setChecked(c.checkpointing);
    // A mode the box lacks (a hand-edited run.json) shows as "off"; validation refused it on load.
    m_offload->setCurrentIndex(std::max(0, m_offload->findData(QString::fromStdString(c.offload_checkpoints))));
    m_deviceLimitGiB->setValue(double(c.device_limit_bytes) / kGiB);
    // A device this machine lacks (a run.json from elsewhere) is kept and shown as such.
    if (m_device->findData(QString::fromStdString(c.device)) < 0)
        m_device->addItem(tr("%1 (not available here)").arg(QString::fromStdString(c.device)),
                          QString::fromStdString(c.device));
    m_device->setCurrentIndex(m_device->findData(QString::fromStdString(c.device)));
    m_computeDtype->setCurrentIndex(std::max(0, m_computeDtype->findData(QString::fromStdString(c.compute_dtype))));
    m_loading = false;
    if (!origin.isEmpty()) {
        const bool replaced = to_json(before) != to_json(config());
        if (replaced) m_previous = before;
        m_undo->setText(tr("Undo %1").arg(origin));
        m_undo->setToolTip(tr("Back to the settings shown before %1").arg(origin));
        m_undo->setVisible(replaced);
        setOrigin(0, origin);
    }
    onChanged();
}

void HparamsPage::applyPreset(Preset p) {
    TrainConfig c = config();
    qls::ui::applyPreset(p, c, presetDevice(p, device_options()));
    setConfig(c, tr("the %1 preset").arg(presetName(p)));
    setOrigin(int(p) + 1, presetName(p));
}

void HparamsPage::setOrigin(int presetIndex, const QString& text) {
    m_originJson = to_json(config()).dump();
    m_originName = text;
    if (presetIndex == 0) m_preset->setItemText(0, text);
    m_preset->setCurrentIndex(presetIndex);
}

QString HparamsPage::originText() const { return m_preset->currentText(); }

void HparamsPage::undo() {
    setConfig(m_previous);
    m_undo->hide();
    setOrigin(0, tr("Your earlier settings"));
}

QLabel* HparamsPage::reasonLabel(const QString& key) const {
    for (const Reason& r : m_reasons)
        if (r.keys.contains(key)) return r.label;
    return nullptr;
}

void HparamsPage::onChanged() {
    if (m_loading) return;
    updateOffloadBox();
    // An edit after a preset or a load: the box says so instead of naming settings no longer shown.
    if (!m_originJson.empty() && to_json(config()).dump() != m_originJson) {
        m_originJson.clear();
        m_preset->setItemText(0, tr("Custom (from %1)").arg(m_originName));
        m_preset->setCurrentIndex(0);
    }
    validate();
    m_estimateTimer->start();
    emit configChanged();
}

// Every problem at once: each beside its field, and all of them, named as the page names them,
// in the summary at the top.
void HparamsPage::validate() {
    const QString before = m_message;
    TrainConfig c = config();
    c.base = m_session->quantSettings().baseOptions();
    const ConfigProblems problems = c.problems();
    QStringList lines;
    for (Reason& r : m_reasons) {
        QStringList mine;
        for (const ConfigProblem& p : problems.list())
            if (r.keys.contains(QString::fromStdString(p.field))) mine << QString::fromStdString(p.message);
        r.label->setText(mine.join(QStringLiteral("; ")));
        r.label->setVisible(!mine.isEmpty());
    }
    for (const ConfigProblem& p : problems.list()) {
        const QString key = QString::fromStdString(p.field);
        const auto owner = std::find_if(m_reasons.cbegin(), m_reasons.cend(),
                                        [&](const Reason& r) { return r.keys.contains(key); });
        // A setting without a field here (the block size is the Model page's) goes by its key.
        lines << tr("%1: %2").arg(owner != m_reasons.cend() ? owner->field : key, QString::fromStdString(p.message));
    }
    m_message = lines.join(QStringLiteral("; "));
    if (lines.isEmpty()) {
        m_summary->setText(tr("These settings are valid."));
    } else {
        QString items;
        for (const QString& line : lines) items += QStringLiteral("<li>%1</li>").arg(line.toHtmlEscaped());
        m_summary->setText(tr("<b>Cannot train with these settings (%n problem(s)):</b><ul style=\"margin:0\">%1</ul>",
                              nullptr, int(lines.size()))
                               .arg(items));
    }
    m_summary->setStyleSheet(m_message.isEmpty() ? QString() : QStringLiteral("color: #c0392b;"));
    if (before.isEmpty() != m_message.isEmpty()) emit validityChanged(m_message.isEmpty());
}

EstimateOptions HparamsPage::estimateOptions(const Backend& backend, const RunBudget& budget) const {
    const TrainConfig c = config();
    EstimateOptions o;
    o.base = m_session->quantSettings().baseOptions();
    o.base.compute = resolve_compute_dtype(c.compute_dtype, backend);
    o.lora = c.lora;
    o.micro_batch = c.micro_batch;
    o.seq_len = std::int64_t(c.data.max_seq_len);
    o.checkpointing = c.checkpointing;
    o.paging = c.optim.paging;
    o.device_bytes = budget.bytes;
    // As the trainer decides it (offload_choice.h): "auto" against the device size above.
    o.offload_checkpoints = choose_offload(c.offload_checkpoints, *m_session->layout(), o, backend).offload;
    return o;
}

void HparamsPage::updateOffloadBox() {
    const bool possible = m_checkpointing->isChecked();
    m_offload->setEnabled(possible || m_offload->currentData().toString() == QStringLiteral("on"));
    m_offload->setToolTip(offloadTip(possible));
}

void HparamsPage::updateEstimate() {
    if (!m_session->layout()) return;
    auto enableFit = [this](bool sized) {
        for (QPushButton* b : {m_fitBatch, m_fitSeqLen}) {
            b->setEnabled(sized);
            b->setToolTip(sized ? tr("The largest value whose estimate fits the device size; the other settings stay")
                                : tr("Set the device size (GiB) first: the search needs a size to fit"));
        }
    };
    try {
        // For the backend the run would get (a device this machine lacks says so here).
        const BackendChoice device = make_backend(parse_device(config().device));
        // What the run would plan against: the size set here, else a GPU's free memory now.
        const RunBudget budget = run_budget(config().device_limit_bytes, parse_device(config().device));
        enableFit(budget.bytes > 0);
        const EstimateOptions options = estimateOptions(*device.backend, budget);
        const MemoryEstimate e = estimate_memory(*m_session->layout(), options, *device.backend);
        m_estimate->setRowCount(0);
        auto addRow = [this](const QString& name, double bytes) {
            const int row = m_estimate->rowCount();
            m_estimate->insertRow(row);
            m_estimate->setItem(row, 0, new QTableWidgetItem(name));
            m_estimate->setItem(row, 1, new QTableWidgetItem(formatBytes(bytes)));
        };
        for (Usage u : kAllUsages) addRow(QString::fromLatin1(usage_name(u).data()), double(e.of(u)));
        addRow(tr("device total"), double(e.device_total));
        const QString note = m_session->isConfigOnly() ? tr(" (config only: weights not downloaded)") : QString();
        const QString against = budget.source == RunBudget::Source::DeviceFree
                                    ? tr(" (against %1)").arg(QString::fromStdString(budget.reason))
                                    : QString();
        m_verdict->setText(QString::fromStdString(e.verdict) + against + note);
        m_verdict->setStyleSheet(e.fits ? QStringLiteral("color: #1e8449;") : QStringLiteral("color: #c0392b;"));
        showLongestSeq(options, e, *device.backend);
    } catch (const std::exception& e) {
        enableFit(false);
        m_estimate->setRowCount(0);
        m_longestSeq->hide();
        m_verdict->setText(tr("No estimate: %1").arg(e.what()));
        m_verdict->setStyleSheet(QStringLiteral("color: #c0392b;"));
    }
}

// Both answers of the core search (longest_seq.h), as `qlora estimate --longest-seq` gives them.
void HparamsPage::showLongestSeq(const EstimateOptions& o, const MemoryEstimate& e, const Backend& backend) {
    m_longestSeq->show();
    const QString offloading =
        e.offload_host > 0
            ? tr("This estimate offloads the checkpoints: %1 of host memory (in \"paged to host\").\n")
                  .arg(formatBytes(double(e.offload_host)))
            : QString();
    if (o.device_bytes <= 0) {
        m_longestSeq->setText(offloading + tr("Set the device size (GiB) to see the longest sequence that fits."));
        return;
    }
    const LongestSeq l = longest_seq(*m_session->layout(), o, backend);
    auto tokens = [this](const FitResult& f) {
        const QString n = f.value == 1 ? tr("1 token") : tr("%1 tokens").arg(f.value);
        return f.at_limit() ? tr("%1, the model's context length").arg(n) : n;
    };
    const QString plain =
        l.plain.value == 0
            ? tr("Longest sequence that fits: none (1 token needs %1).")
                  .arg(formatBytes(double(l.plain.estimate.device_total)))
            : tr("Longest sequence that fits: %1 (needs %2).")
                  .arg(tokens(l.plain), formatBytes(double(l.plain.estimate.device_total)));
    QString offloaded;
    if (!l.offloaded)
        offloaded = tr("Offloaded checkpoints need gradient checkpointing.");
    else if (l.offloaded->value == 0)
        offloaded = tr("With offloaded checkpoints: none (1 token needs %1).")
                        .arg(formatBytes(double(l.offloaded->estimate.device_total)));
    else
        offloaded = tr("With offloaded checkpoints: %1 (%2 on the device, %3 of host memory).")
                        .arg(tokens(*l.offloaded), formatBytes(double(l.offloaded->estimate.device_total)),
                             formatBytes(double(l.offloaded->estimate.offload_host)));
    m_longestSeq->setText(offloading + plain + QLatin1Char('\n') + offloaded);
}

// The same estimator's answer, applied to the field: the estimate then shows it fitting.
void HparamsPage::fitLargest(FitDimension dimension) {
    if (!m_session->layout()) return;
    QSpinBox* field = dimension == FitDimension::MicroBatch ? m_microBatch : m_seqLen;
    try {
        const BackendChoice device = make_backend(parse_device(config().device));
        const RunBudget budget = run_budget(config().device_limit_bytes, parse_device(config().device));
        const FitResult r =
            fit_largest(*m_session->layout(), estimateOptions(*device.backend, budget), dimension, *device.backend);
        if (r.value == 0) {
            m_verdict->setText(tr("Nothing fits: even 1 needs %1").arg(formatBytes(double(r.estimate.device_total))));
            m_verdict->setStyleSheet(QStringLiteral("color: #c0392b;"));
            return;
        }
        field->setValue(int(std::min<std::int64_t>(r.value, field->maximum())));
    } catch (const std::exception& e) {
        m_verdict->setText(tr("No estimate: %1").arg(e.what()));
        m_verdict->setStyleSheet(QStringLiteral("color: #c0392b;"));
    }
}

QString HparamsPage::saveConfig(const QString& path) const {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) return file.errorString();
    const std::string text = nlohmann::json{{"config", to_json(config())}}.dump(2);
    file.write(text.data(), qint64(text.size()));
    if (!file.commit()) return file.errorString();
    return {};
}

QString HparamsPage::loadConfig(const QString& path) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) return tr("%1: %2").arg(path, file.errorString());
    try {
        const auto j = nlohmann::json::parse(file.readAll().toStdString());
        setConfig(train_config_from_json(j.contains("config") ? j.at("config") : j), QFileInfo(path).fileName());
    } catch (const std::exception& e) {
        return tr("%1: %2").arg(path, e.what());
    }
    return {};
}

void HparamsPage::chooseSave() {
    const QString path = QFileDialog::getSaveFileName(this, tr("Save the settings"), "run.json", tr("JSON (*.json)"));
    if (path.isEmpty()) return;
    if (const QString error = saveConfig(path); !error.isEmpty()) m_summary->setText(error);
}

void HparamsPage::chooseLoad() {
    const QString path = QFileDialog::getOpenFileName(this, tr("Load settings"), QSettings().value("lastRunDir").toString(),
                                                      tr("JSON (*.json)"));
    if (path.isEmpty()) return;
    if (const QString error = loadConfig(path); !error.isEmpty()) m_summary->setText(error);
}

}  // namespace qls::ui
