#include "ui/hparams_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHeaderView>
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

#include "core/train/memory_estimate.h"
#include "ui/model_session.h"
#include "ui/ui_format.h"

namespace qls::ui {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kGiB = kMiB * 1024.0;

QSpinBox* spin(QWidget* parent, int lo, int hi) {
    auto* s = new QSpinBox(parent);
    s->setRange(lo, hi);
    s->setAccelerated(true);
    return s;
}

QDoubleSpinBox* dspin(QWidget* parent, double lo, double hi, int decimals, double step) {
    auto* s = new QDoubleSpinBox(parent);
    s->setRange(lo, hi);
    s->setDecimals(decimals);
    s->setSingleStep(step);
    return s;
}

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

void HparamsPage::addField(QFormLayout* form, const QString& label, QWidget* field, const QString& tip,
                           const QStringList& needles) {
    field->setToolTip(tip);
    form->addRow(label, field);
    if (QWidget* l = form->labelForField(field)) l->setToolTip(tip);
    // Every field feeds the same check.
    if (auto* s = qobject_cast<QSpinBox*>(field)) connect(s, &QSpinBox::valueChanged, this, &HparamsPage::onChanged);
    if (auto* d = qobject_cast<QDoubleSpinBox*>(field))
        connect(d, &QDoubleSpinBox::valueChanged, this, &HparamsPage::onChanged);
    if (auto* e = qobject_cast<QLineEdit*>(field)) connect(e, &QLineEdit::textChanged, this, &HparamsPage::onChanged);
    if (needles.isEmpty()) return;
    auto* reason = new QLabel(this);
    reason->setWordWrap(true);
    reason->setStyleSheet("color: #c0392b;");
    reason->hide();
    form->addRow(QString(), reason);
    m_reasons.append({needles, reason});
}

QWidget* HparamsPage::buildLora() {
    auto* box = new QGroupBox(tr("LoRA adapter"), this);
    auto* form = new QFormLayout(box);
    m_rank = spin(box, 0, 4096);
    m_alpha = dspin(box, 0, 100000, 2, 1);
    m_dropout = dspin(box, 0, 1, 3, 0.01);
    m_rslora = new QCheckBox(tr("rsLoRA: scale by alpha / √r"), box);
    addField(form, tr("Rank r"), m_rank, tr("Adapter rank: trainable parameters grow linearly with it (default 16)"),
             {"lora rank"});
    addField(form, tr("Alpha"), m_alpha, tr("Scaling numerator: the update is scaled by alpha / r (default 32)"),
             {"lora alpha"});
    addField(form, tr("Dropout"), m_dropout, tr("Dropout on the adapter's input, 0 ≤ p < 1 (default 0.05)"),
             {"lora dropout"});
    auto* targets = new QWidget(box);
    auto* row = new QHBoxLayout(targets);
    row->setContentsMargins(0, 0, 0, 0);
    for (LoraTarget t : kAllLoraTargets) {
        QString name = QString::fromLatin1(lora_target_name(t).data());
        auto* c = new QCheckBox(name.chopped(5), targets);  // "q_proj" -> "q"
        c->setToolTip(name);
        row->addWidget(c);
        m_targets << c;
        connect(c, &QCheckBox::toggled, this, &HparamsPage::onChanged);
    }
    addField(form, tr("Target modules"), targets, tr("The linear layers that get an adapter (QLoRA: all seven)"),
             {"lora target"});
    addField(form, QString(), m_rslora, tr("Rank-stabilized LoRA (Kalajdzievski 2023)"), {});
    connect(m_rslora, &QCheckBox::toggled, this, &HparamsPage::onChanged);
    return box;
}

QWidget* HparamsPage::buildOptimizer() {
    auto* box = new QGroupBox(tr("Optimizer (paged AdamW)"), this);
    auto* form = new QFormLayout(box);
    m_lr = new QLineEdit(box);
    m_schedule = new QComboBox(box);
    for (LrScheduleType t : {LrScheduleType::Constant, LrScheduleType::Linear, LrScheduleType::Cosine})
        m_schedule->addItem(QString::fromLatin1(lr_schedule_name(t).data()), int(t));
    connect(m_schedule, &QComboBox::currentIndexChanged, this, &HparamsPage::onChanged);
    m_warmupSteps = spin(box, 0, 1000000);
    m_warmupRatio = dspin(box, 0, 1, 3, 0.01);
    m_weightDecay = dspin(box, 0, 10, 4, 0.01);
    m_maxGradNorm = dspin(box, 0, 1000, 3, 0.1);
    m_beta1 = dspin(box, 0, 1, 4, 0.01);
    m_beta2 = dspin(box, 0, 1, 4, 0.001);
    m_eps = new QLineEdit(box);
    addField(form, tr("Learning rate"), m_lr, tr("Peak rate, e.g. 2e-4 (QLoRA) or 1e-3 for tiny models"), {"'lr'"});
    addField(form, tr("Schedule"), m_schedule, tr("constant (after warm-up), linear or cosine decay to zero"), {});
    addField(form, tr("Warm-up steps"), m_warmupSteps, tr("Linear warm-up length; wins over the ratio when > 0"),
             {"warmup_steps"});
    addField(form, tr("Warm-up ratio"), m_warmupRatio, tr("Warm-up as a fraction of all steps (QLoRA: 0.03)"),
             {"warmup_ratio"});
    addField(form, tr("Weight decay"), m_weightDecay, tr("Decoupled (AdamW) decay of the adapter weights (default 0)"),
             {"weight_decay"});
    addField(form, tr("Max grad norm"), m_maxGradNorm, tr("Global-norm clipping; 0 turns it off (QLoRA: 0.3)"),
             {"max_grad_norm"});
    addField(form, tr("Adam β1"), m_beta1, tr("First-moment decay, 0 ≤ β1 < 1 (default 0.9)"), {"'beta1'"});
    addField(form, tr("Adam β2"), m_beta2, tr("Second-moment decay, 0 ≤ β2 < 1 (default 0.999)"), {"'beta2'"});
    addField(form, tr("Adam ε"), m_eps, tr("Denominator term (default 1e-8)"), {"'eps'"});
    return box;
}

QWidget* HparamsPage::buildSteps() {
    auto* box = new QGroupBox(tr("Batches and length"), this);
    auto* form = new QFormLayout(box);
    m_epochs = dspin(box, 0, 10000, 2, 0.5);
    m_maxSteps = spin(box, -1, 100000000);
    m_microBatch = spin(box, 0, 100000);
    m_gradAccum = spin(box, 0, 100000);
    m_seqLen = spin(box, 0, 1 << 21);
    m_seqLen->setSingleStep(64);
    m_packing = new QCheckBox(tr("Pack short examples into one sequence"), box);
    connect(m_packing, &QCheckBox::toggled, this, &HparamsPage::onChanged);
    connect(m_seqLen, &QSpinBox::valueChanged, this, &HparamsPage::maxSeqLenChanged);
    addField(form, tr("Epochs"), m_epochs, tr("Passes over the training examples, used when max steps is 0"),
             {"epochs"});
    addField(form, tr("Max steps"), m_maxSteps, tr("Optimizer steps; 0 derives them from the epochs"), {"max_steps"});
    addField(form, tr("Micro-batch"), m_microBatch, tr("Sequences per forward/backward pass: the main memory knob"),
             {"micro_batch"});
    addField(form, tr("Gradient accumulation"), m_gradAccum,
             tr("Micro-batches per optimizer step; the effective batch is micro-batch × this"), {"grad_accum"});
    addField(form, tr("Max sequence length"), m_seqLen,
             tr("Tokens per example, BOS and end of turn included; longer ones are truncated"), {"max_seq_len"});
    addField(form, QString(), m_packing, tr("Fills each row with several examples (attention kept separate)"), {});
    return box;
}

QWidget* HparamsPage::buildRun() {
    auto* box = new QGroupBox(tr("Evaluation and checkpoints"), this);
    auto* form = new QFormLayout(box);
    m_evalEvery = spin(box, -1, 1000000);
    m_saveEvery = spin(box, -1, 1000000);
    m_keep = spin(box, 0, 1000);
    m_patience = spin(box, -1, 1000);
    m_minDelta = dspin(box, 0, 100, 4, 0.001);
    m_seed = spin(box, 0, std::numeric_limits<int>::max());
    m_checkpointing = new QCheckBox(tr("Gradient checkpointing"), box);
    connect(m_checkpointing, &QCheckBox::toggled, this, &HparamsPage::onChanged);
    addField(form, tr("Evaluate every"), m_evalEvery, tr("Steps between validation losses; 0: only at the end"),
             {"eval_every"});
    addField(form, tr("Save every"), m_saveEvery, tr("Steps between checkpoints; 0: only at the end"), {"save_every"});
    addField(form, tr("Keep checkpoints"), m_keep, tr("The newest ones kept (and the best)"), {"keep_checkpoints"});
    addField(form, tr("Early-stop patience"), m_patience,
             tr("Stop after this many evaluations without improvement; 0: off"), {"early_stop"});
    addField(form, tr("Early-stop min. delta"), m_minDelta, tr("Improvement that counts"), {});
    addField(form, tr("Seed"), m_seed, tr("Order of the examples, dropout and the adapter's start"), {});
    addField(form, QString(), m_checkpointing,
             tr("Recompute each layer in backward instead of keeping its activations: much less memory, ~30% slower"),
             {});
    return box;
}

QWidget* HparamsPage::buildMemory() {
    auto* box = new QGroupBox(tr("Memory"), this);
    auto* form = new QFormLayout(box);
    m_budgetMiB = dspin(box, 0, 1 << 24, 1, 16);
    m_budgetMiB->setSpecialValueText(tr("no limit"));
    m_pageKiB = spin(box, 0, 1 << 20);
    m_deviceLimitGiB = dspin(box, 0, 1 << 14, 2, 1);
    m_deviceLimitGiB->setSpecialValueText(tr("the device's own"));
    addField(form, tr("Optimizer budget (MiB)"), m_budgetMiB,
             tr("Device memory for AdamW state; pages beyond it live in host memory and move on demand"),
             {"device_budget_bytes"});
    addField(form, tr("Page size (KiB)"), m_pageKiB, tr("Unit the paged optimizer moves (default 1024 KiB)"),
             {"page_bytes"});
    addField(form, tr("Device size (GiB)"), m_deviceLimitGiB,
             tr("Rehearse a smaller GPU: allocations past this fail as they would on that card"), {});
    return box;
}

QWidget* HparamsPage::buildEstimate() {
    auto* box = new QGroupBox(tr("Memory estimate"), this);
    auto* layout = new QVBoxLayout(box);
    m_estimate = new QTableWidget(0, 2, box);
    m_estimate->setObjectName("estimateTable");
    m_estimate->setHorizontalHeaderLabels({tr("category"), tr("bytes")});
    m_estimate->horizontalHeader()->setStretchLastSection(true);
    m_estimate->verticalHeader()->hide();
    m_estimate->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_verdict = new QLabel(tr("Open a model to estimate its memory."), box);
    m_verdict->setObjectName("estimateVerdict");
    m_verdict->setWordWrap(true);
    layout->addWidget(m_estimate, 1);
    layout->addWidget(m_verdict);
    return box;
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
        const MemoryEstimate e = estimate_memory(*m_session->model(), o);
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
