#include "ui/hparams_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
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
#include "core/train/memory_estimate.h"
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
    m_preset->addItem(tr("Choose a preset…"));
    for (Preset p : kAllPresets) {
        m_preset->addItem(presetName(p));
        m_preset->setItemData(m_preset->count() - 1, presetSummary(p), Qt::ToolTipRole);
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
    connect(defaults, &QPushButton::clicked, this, [this] { setConfig(TrainConfig{}); });
    m_summary = new QLabel(this);
    m_summary->setObjectName("hparamsSummary");
    m_summary->setWordWrap(true);

    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Preset:"), this));
    top->addWidget(m_preset);
    top->addWidget(defaults);
    top->addWidget(save);
    top->addWidget(load);
    top->addStretch(1);

    auto* grid = new QGridLayout;
    grid->addWidget(buildLora(), 0, 0);
    grid->addWidget(buildOptimizer(), 0, 1);
    grid->addWidget(buildSteps(), 0, 2);
    grid->addWidget(buildRun(), 1, 0);
    grid->addWidget(buildMemory(), 1, 1);
    grid->addWidget(buildEstimate(), 1, 2);
    auto* body = new QWidget(this);
    body->setLayout(grid);
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
    connect(session, &ModelSession::quantSettingsChanged, this, &HparamsPage::onChanged);
    setConfig(TrainConfig{});
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
    c.device_limit_bytes = std::int64_t(std::llround(m_deviceLimitGiB->value() * kGiB));
    c.device = m_device->currentData().toString().toStdString();
    c.compute_dtype = m_computeDtype->currentData().toString().toStdString();
    return c;
}

void HparamsPage::setConfig(const TrainConfig& c) {
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
    m_deviceLimitGiB->setValue(double(c.device_limit_bytes) / kGiB);
    // A device this machine lacks (a run.json from elsewhere) is kept and shown as such.
    if (m_device->findData(QString::fromStdString(c.device)) < 0)
        m_device->addItem(tr("%1 (not available here)").arg(QString::fromStdString(c.device)),
                          QString::fromStdString(c.device));
    m_device->setCurrentIndex(m_device->findData(QString::fromStdString(c.device)));
    m_computeDtype->setCurrentIndex(std::max(0, m_computeDtype->findData(QString::fromStdString(c.compute_dtype))));
    m_loading = false;
    onChanged();
}

void HparamsPage::applyPreset(Preset p) {
    TrainConfig c = config();
    qls::ui::applyPreset(p, c);
    setConfig(c);
    m_preset->setCurrentIndex(int(p) + 1);
}

QLabel* HparamsPage::reasonLabel(const QString& needle) const {
    for (const auto& [needles, label] : m_reasons)
        if (needles.contains(needle)) return label;
    return nullptr;
}

void HparamsPage::onChanged() {
    if (m_loading) return;
    validate();
    m_estimateTimer->start();
    emit configChanged();
}

void HparamsPage::validate() {
    const QString before = m_message;
    m_message.clear();
    try {
        TrainConfig c = config();
        const QuantSettings& q = m_session->quantSettings();
        c.base.quant = q.type;
        c.base.blocksize = q.blockSize;
        c.validate();
    } catch (const std::exception& e) {
        m_message = QString::fromStdString(e.what());
    }
    QLabel* shown = nullptr;
    for (const auto& [needles, label] : m_reasons) {
        const bool mine = !shown && std::any_of(needles.begin(), needles.end(),
                                                [&](const QString& n) { return m_message.contains(n); });
        label->setVisible(mine);
        if (mine) {
            label->setText(m_message);
            shown = label;
        }
    }
    m_summary->setText(m_message.isEmpty() ? tr("These settings are valid.")
                                           : tr("<b>Cannot train with these settings:</b> %1").arg(m_message.toHtmlEscaped()));
    m_summary->setStyleSheet(m_message.isEmpty() ? QString() : QStringLiteral("color: #c0392b;"));
    if (before.isEmpty() != m_message.isEmpty()) emit validityChanged(m_message.isEmpty());
}

void HparamsPage::updateEstimate() {
    if (!m_session->hasModel()) return;
    const TrainConfig c = config();
    const QuantSettings& q = m_session->quantSettings();
    EstimateOptions o;
    o.base.quant = q.type;
    o.base.double_quant = q.doubleQuant;
    o.base.blocksize = q.blockSize;
    o.lora = c.lora;
    o.micro_batch = c.micro_batch;
    o.seq_len = std::int64_t(c.data.max_seq_len);
    o.checkpointing = c.checkpointing;
    o.paging = c.optim.paging;
    o.device_bytes = c.device_limit_bytes;
    try {
        // For the backend the run would get (a device this machine lacks says so here).
        const BackendChoice device = make_backend(parse_device(c.device));
        o.base.compute = resolve_compute_dtype(c.compute_dtype, *device.backend);
        const MemoryEstimate e = estimate_memory(*m_session->model(), o, *device.backend);
        m_estimate->setRowCount(0);
        auto addRow = [this](const QString& name, double bytes) {
            const int row = m_estimate->rowCount();
            m_estimate->insertRow(row);
            m_estimate->setItem(row, 0, new QTableWidgetItem(name));
            m_estimate->setItem(row, 1, new QTableWidgetItem(formatBytes(bytes)));
        };
        for (Usage u : kAllUsages) addRow(QString::fromLatin1(usage_name(u).data()), double(e.of(u)));
        addRow(tr("device total"), double(e.device_total));
        m_verdict->setText(QString::fromStdString(e.verdict));
        m_verdict->setStyleSheet(e.fits ? QStringLiteral("color: #1e8449;") : QStringLiteral("color: #c0392b;"));
    } catch (const std::exception& e) {
        m_estimate->setRowCount(0);
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
        setConfig(train_config_from_json(j.contains("config") ? j.at("config") : j));
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
