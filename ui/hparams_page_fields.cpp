// HparamsPage's field groups: one builder per group box, each field with its tooltip and the
// label its validation message appears in (the page's logic is in hparams_page.cpp).
#include "ui/hparams_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>

#include "core/backend/backend_registry.h"

namespace qls::ui {

namespace {

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

}  // namespace

void HparamsPage::addField(QFormLayout* form, const QString& label, QWidget* field, const QString& tip,
                           const QStringList& keys) {
    field->setToolTip(tip);
    form->addRow(label, field);
    if (QWidget* l = form->labelForField(field)) l->setToolTip(tip);
    // Every field feeds the same check.
    if (auto* s = qobject_cast<QSpinBox*>(field)) connect(s, &QSpinBox::valueChanged, this, &HparamsPage::onChanged);
    if (auto* d = qobject_cast<QDoubleSpinBox*>(field))
        connect(d, &QDoubleSpinBox::valueChanged, this, &HparamsPage::onChanged);
    if (auto* e = qobject_cast<QLineEdit*>(field)) connect(e, &QLineEdit::textChanged, this, &HparamsPage::onChanged);
    if (keys.isEmpty()) return;
    auto* reason = new QLabel(this);
    reason->setWordWrap(true);
    reason->setStyleSheet("color: #c0392b;");
    reason->hide();
    form->addRow(QString(), reason);
    // Unnamed fields are check boxes whose text names them.
    auto* box = qobject_cast<QCheckBox*>(field);
    m_reasons.append({keys, reason, label.isEmpty() && box ? box->text() : label});
}

QWidget* HparamsPage::buildLora() {
    auto* box = new QGroupBox(tr("LoRA adapter"), this);
    auto* form = new QFormLayout(box);
    m_rank = spin(box, 0, 4096);
    m_alpha = dspin(box, 0, 100000, 2, 1);
    m_dropout = dspin(box, 0, 1, 3, 0.01);
    m_rslora = new QCheckBox(tr("rsLoRA: scale by alpha / √r"), box);
    addField(form, tr("Rank r"), m_rank, tr("Adapter rank: trainable parameters grow linearly with it (default 16)"),
             {"lora.r"});
    addField(form, tr("Alpha"), m_alpha, tr("Scaling numerator: the update is scaled by alpha / r (default 32)"),
             {"lora.alpha"});
    addField(form, tr("Dropout"), m_dropout, tr("Dropout on the adapter's input, 0 ≤ p < 1 (default 0.05)"),
             {"lora.dropout"});
    // Attention's four, then the MLP's three: two short rows keep the group narrow.
    auto* targets = new QWidget(box);
    auto* row = new QGridLayout(targets);
    row->setContentsMargins(0, 0, 0, 0);
    for (LoraTarget t : kAllLoraTargets) {
        QString name = QString::fromLatin1(lora_target_name(t).data());
        auto* c = new QCheckBox(name.chopped(5), targets);  // "q_proj" -> "q"
        c->setToolTip(name);
        const int i = int(m_targets.size());
        row->addWidget(c, i / 4, i % 4);
        m_targets << c;
        connect(c, &QCheckBox::toggled, this, &HparamsPage::onChanged);
    }
    addField(form, tr("Target modules"), targets, tr("The linear layers that get an adapter (QLoRA: all seven)"),
             {"lora.target_modules"});
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
    addField(form, tr("Learning rate"), m_lr, tr("Peak rate, e.g. 2e-4 (QLoRA) or 1e-3 for tiny models"), {"optim.learning_rate"});
    addField(form, tr("Schedule"), m_schedule, tr("constant (after warm-up), linear or cosine decay to zero"), {});
    addField(form, tr("Warm-up steps"), m_warmupSteps, tr("Linear warm-up length; wins over the ratio when > 0"),
             {"optim.warmup_steps"});
    addField(form, tr("Warm-up ratio"), m_warmupRatio, tr("Warm-up as a fraction of all steps (QLoRA: 0.03)"),
             {"optim.warmup_ratio"});
    addField(form, tr("Weight decay"), m_weightDecay, tr("Decoupled (AdamW) decay of the adapter weights (default 0)"),
             {"optim.weight_decay"});
    addField(form, tr("Max grad norm"), m_maxGradNorm, tr("Global-norm clipping; 0 turns it off (QLoRA: 0.3)"),
             {"optim.max_grad_norm"});
    addField(form, tr("Adam β1"), m_beta1, tr("First-moment decay, 0 ≤ β1 < 1 (default 0.9)"), {"optim.adam_beta1"});
    addField(form, tr("Adam β2"), m_beta2, tr("Second-moment decay, 0 ≤ β2 < 1 (default 0.999)"), {"optim.adam_beta2"});
    addField(form, tr("Adam ε"), m_eps, tr("Denominator term (default 1e-8)"), {"optim.adam_eps"});
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
    m_packing = new QCheckBox(tr("Pack short examples"), box);
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
             tr("Tokens per example, BOS and end of turn included; longer ones are truncated"), {"data.max_seq_len"});
    addField(form, QString(), m_packing, tr("Fills each sequence of the batch with several short examples (attention kept separate): fewer steps for the same data"), {});
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
             tr("Stop after this many evaluations without improvement; 0: off"), {"early_stop_patience"});
    addField(form, tr("Early-stop min. delta"), m_minDelta, tr("Improvement that counts"), {"early_stop_min_delta"});
    addField(form, tr("Seed"), m_seed, tr("Order of the examples, dropout and the adapter's start"), {});
    addField(form, QString(), m_checkpointing,
             tr("Recompute each layer in backward instead of keeping its activations: much less memory, ~30% slower"),
             {});
    m_offload = new QComboBox(box);
    m_offload->setObjectName("offloadChoice");
    m_offload->addItem(tr("off"), QStringLiteral("off"));
    m_offload->setItemData(0, tr("The checkpointed layer inputs stay in device memory"), Qt::ToolTipRole);
    m_offload->addItem(tr("on"), QStringLiteral("on"));
    m_offload->setItemData(1,
                           tr("The checkpointed layer inputs wait in host memory between forward and backward, moved "
                              "on a copy stream while the layers compute: longer sequences fit, results are identical"),
                           Qt::ToolTipRole);
    m_offload->addItem(tr("auto (when it would not fit)"), QStringLiteral("auto"));
    m_offload->setItemData(2,
                           tr("On only when the run would not fit the device size without it; off when it fits or "
                              "no size is known"),
                           Qt::ToolTipRole);
    connect(m_offload, &QComboBox::currentIndexChanged, this, &HparamsPage::onChanged);
    addField(form, tr("Offload checkpoints"), m_offload, offloadTip(true), {"offload_checkpoints"});
    return box;
}

QString HparamsPage::offloadTip(bool possible) {
    return possible ? tr("Keep the checkpointed layer inputs in host memory between forward and backward, moved on a "
                         "copy stream while the layers compute: less device memory for long sequences, at the cost of "
                         "host memory and copy bandwidth; results are identical. auto: on only when the run would not "
                         "fit the device size without it")
                    : tr("Needs gradient checkpointing: without it every activation stays on the device, so there are "
                         "no checkpoints to offload");
}

QWidget* HparamsPage::buildMemory() {
    auto* box = new QGroupBox(tr("Device and memory"), this);
    auto* form = new QFormLayout(box);
    m_device = new QComboBox(box);
    m_device->setObjectName("deviceChoice");
    for (const DeviceOption& d : device_options())
        m_device->addItem(QString::fromStdString(d.label), QString::fromStdString(d.spec));
    connect(m_device, &QComboBox::currentIndexChanged, this, &HparamsPage::onChanged);
    addField(form, tr("Device"), m_device,
             tr("Where the run trains; auto takes a CUDA device when this build has a CUDA backend and one is "
                "present, else the CPU"),
             {"device"});
    m_computeDtype = new QComboBox(box);
    m_computeDtype->setObjectName("computeDtypeChoice");
    m_computeDtype->addItem(tr("auto (bf16 on GPUs that have it, fp32 on the CPU)"), QStringLiteral("auto"));
    m_computeDtype->addItem(tr("bf16"), QStringLiteral("bf16"));
    m_computeDtype->addItem(tr("fp16 (dynamic loss scaling)"), QStringLiteral("fp16"));
    m_computeDtype->addItem(tr("fp32"), QStringLiteral("fp32"));
    connect(m_computeDtype, &QComboBox::currentIndexChanged, this, &HparamsPage::onChanged);
    // Long entries elide in the box and show whole in its list, rather than widen the page.
    for (QComboBox* c : {m_device, m_computeDtype}) {
        c->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        c->setMinimumContentsLength(14);
    }
    addField(form, tr("Compute dtype"), m_computeDtype,
             tr("What activations and the dequantized weights are stored in; LoRA weights, their gradients and "
                "the optimizer stay fp32. bf16 halves activation memory; fp16 scales the loss and skips steps "
                "whose gradients overflow"),
             {"compute_dtype"});
    m_budgetMiB = dspin(box, 0, 1 << 24, 1, 16);
    m_budgetMiB->setSpecialValueText(tr("no limit"));
    m_pageKiB = spin(box, 0, 1 << 20);
    m_deviceLimitGiB = dspin(box, 0, 1 << 14, 2, 1);
    m_deviceLimitGiB->setSpecialValueText(tr("the device's own"));
    addField(form, tr("Optimizer budget (MiB)"), m_budgetMiB,
             tr("Device memory for AdamW state; pages beyond it live in host memory and move on demand"),
             {"optim.optimizer_budget_bytes"});
    addField(form, tr("Page size (KiB)"), m_pageKiB, tr("Unit the paged optimizer moves (default 1024 KiB)"),
             {"optim.page_bytes"});
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
    m_longestSeq = new QLabel(box);
    m_longestSeq->setObjectName("longestSeq");
    m_longestSeq->setWordWrap(true);
    m_longestSeq->setToolTip(tr("At this micro-batch and rank, to the token, by the same estimate (qlora estimate "
                                "--longest-seq); offloaded checkpoints keep the checkpointed layer inputs in host "
                                "memory"));
    m_longestSeq->hide();  // until a model is open
    m_fitBatch = new QPushButton(tr("Largest micro-batch"), box);
    m_fitBatch->setObjectName("fitMicroBatch");
    m_fitSeqLen = new QPushButton(tr("Largest sequence length"), box);
    m_fitSeqLen->setObjectName("fitSeqLen");
    for (QPushButton* b : {m_fitBatch, m_fitSeqLen}) b->setEnabled(false);  // until a model is open
    connect(m_fitBatch, &QPushButton::clicked, this, [this] { fitLargest(FitDimension::MicroBatch); });
    connect(m_fitSeqLen, &QPushButton::clicked, this, [this] { fitLargest(FitDimension::SeqLen); });
    auto* fit = new QHBoxLayout;
    fit->addWidget(new QLabel(tr("Fit:"), box));
    fit->addWidget(m_fitBatch);
    fit->addWidget(m_fitSeqLen);
    fit->addStretch(1);
    layout->addWidget(m_estimate, 1);
    layout->addLayout(fit);
    layout->addWidget(m_verdict);
    layout->addWidget(m_longestSeq);
    return box;
}

}  // namespace qls::ui
