#include "ui/model_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMenu>
#include <QPushButton>
#include <QScrollArea>
#include <QStyle>
#include <QTableWidget>
#include <QVBoxLayout>

#include "core/inspect/weight_memory.h"
#include "core/train/gpu_presets.h"
#include "ui/model_session.h"
#include "ui/table_util.h"
#include "ui/ui_format.h"

namespace qls::ui {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

QString yesNo(bool b) { return b ? QObject::tr("yes") : QObject::tr("no"); }

QString schemeLabel(WeightScheme s) {
    switch (s) {
    case WeightScheme::Bf16: return QObject::tr("16-bit (bf16)");
    case WeightScheme::Nf4: return QObject::tr("NF4");
    case WeightScheme::Nf4DoubleQuant: return QObject::tr("NF4 + double quant");
    case WeightScheme::Fp4: return QObject::tr("FP4");
    }
    return {};
}

QString ropeText(const LlamaConfig& c) {
    QString text = QObject::tr("theta %1").arg(c.rope_theta, 0, 'g', 8);
    if (c.rope_scaling.type == RopeType::Linear)
        text += QObject::tr(", linear scaling × %1").arg(c.rope_scaling.factor);
    else if (c.rope_scaling.type == RopeType::Llama3)
        text += QObject::tr(", Llama-3 scaling × %1 (from %2 tokens)")
                    .arg(c.rope_scaling.factor)
                    .arg(c.rope_scaling.original_max_position);
    return text;
}

QString prequantText(const LlamaConfig& c) {
    if (!c.quantization) return QObject::tr("none (dense weights)");
    const BnbQuantConfig& q = *c.quantization;
    return QObject::tr("%1%2 by bitsandbytes, compute %3")
        .arg(q.quant_type == QuantType::FP4 ? "FP4" : "NF4")
        .arg(q.double_quant ? QObject::tr(" + double quant") : QString())
        .arg(QString::fromStdString(q.compute_dtype));
}

}  // namespace

ModelPage::ModelPage(ModelSession* session, QWidget* parent) : QWidget(parent), m_session(session) {
    m_heading = new QLabel(tr("No model open"), this);
    m_heading->setObjectName("modelHeading");
    QFont big = m_heading->font();
    big.setPointSizeF(big.pointSizeF() * 1.4);
    big.setBold(true);
    m_heading->setFont(big);
    m_heading->setTextInteractionFlags(Qt::TextSelectableByMouse);

    m_open = new QPushButton(style()->standardIcon(QStyle::SP_DialogOpenButton), tr("Open…"), this);
    auto* openMenu = new QMenu(m_open);
    openMenu->addAction(tr("Model folder…"), this, &ModelPage::openRequested);
    openMenu->addAction(tr("GGUF file…"), this, &ModelPage::openGgufRequested);
    openMenu->addAction(tr("Hugging Face model…"), this, &ModelPage::openHubRequested);
    m_open->setMenu(openMenu);
    m_demo = new QPushButton(tr("Demo model"), this);
    m_demo->setObjectName("demoButton");
    m_demo->setToolTip(tr("Open the small Llama model that ships with QLoRA Studio"));
    connect(m_demo, &QPushButton::clicked, this, &ModelPage::demoRequested);

    m_error = new QLabel(this);
    m_error->setObjectName("modelError");
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setFrameShape(QFrame::StyledPanel);
    m_error->setMargin(8);
    m_error->hide();

    m_configOnly = new QLabel(tr("<b>Config only: weights not downloaded.</b> The summary and the memory table "
                                 "come from config.json; download the weights into the folder and open it again "
                                 "to inspect, train or chat."),
                              this);
    m_configOnly->setObjectName("configOnlyNote");
    m_configOnly->setWordWrap(true);
    m_configOnly->setFrameShape(QFrame::StyledPanel);
    m_configOnly->setMargin(8);
    m_configOnly->hide();

    m_subheading = new QLabel(tr("Open a Hugging Face model folder, a bitsandbytes 4-bit checkpoint or a "
                                 "GGUF file, or try the demo model."),
                              this);
    m_subheading->setObjectName("modelSubheading");
    m_subheading->setWordWrap(true);
    auto* titles = new QVBoxLayout;
    titles->addWidget(m_heading);
    titles->addWidget(m_subheading);
    auto* head = new QHBoxLayout;
    head->addLayout(titles, 1);
    head->addWidget(m_open);
    head->addWidget(m_demo);

    auto* left = new QVBoxLayout;
    left->addWidget(buildSummary());
    left->addStretch();
    auto* right = new QVBoxLayout;
    right->addWidget(buildQuantization());
    right->addWidget(buildMemory());
    right->addStretch();
    auto* columns = new QHBoxLayout;
    columns->addLayout(left, 2);
    columns->addLayout(right, 3);

    auto* content = new QWidget;
    auto* contentLayout = new QVBoxLayout(content);
    contentLayout->addLayout(head);
    contentLayout->addWidget(m_error);
    contentLayout->addWidget(m_configOnly);
    contentLayout->addLayout(columns, 1);
    auto* scroll = new QScrollArea(this);
    scroll->setWidget(content);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(scroll);

    connect(session, &ModelSession::loadStarted, this, &ModelPage::onLoadStarted);
    connect(session, &ModelSession::modelLoaded, this, &ModelPage::onModelLoaded);
    connect(session, &ModelSession::configOpened, this, &ModelPage::onModelLoaded);
    connect(session, &ModelSession::loadFailed, this, &ModelPage::onLoadFailed);
    connect(session, &ModelSession::quantSettingsChanged, this, &ModelPage::updateMemory);
    writeQuantWidgets();
    updateMemory();
}

void ModelPage::addField(QFormLayout* form, const QString& key, const QString& label) {
    auto* value = new QLabel(QStringLiteral("–"));
    value->setObjectName("summary_" + key);
    value->setTextInteractionFlags(Qt::TextSelectableByMouse);
    value->setWordWrap(true);
    form->addRow(label, value);
    m_summary.insert(key, value);
}

QWidget* ModelPage::buildSummary() {
    auto* box = new QWidget(this);
    auto* v = new QVBoxLayout(box);
    v->setContentsMargins(0, 0, 0, 0);
    auto* model = new QGroupBox(tr("Model"), box);
    auto* form = new QFormLayout(model);
    const std::pair<const char*, const char*> fields[] = {
        {"path", "Path"}, {"format", "Format"}, {"architecture", "Architecture"},
        {"parameters", "Parameters"}, {"layers", "Layers"}, {"hidden", "Hidden size"},
        {"mlp", "MLP size"}, {"heads", "Attention heads"}, {"kvHeads", "KV heads"},
        {"headDim", "Head dim"}, {"vocab", "Vocabulary"}, {"context", "Context length"},
        {"rope", "RoPE"}, {"tied", "Tied embeddings"}, {"dtype", "Stored as"},
        {"prequant", "Pre-quantized"}};
    for (const auto& [key, label] : fields) addField(form, key, tr(label));
    auto* tok = new QGroupBox(tr("Tokenizer"), box);
    auto* tokForm = new QFormLayout(tok);
    const std::pair<const char*, const char*> tokFields[] = {
        {"tokenizer", "Kind"}, {"tokenizerVocab", "Vocabulary"}, {"bos", "BOS"},
        {"eos", "EOS"}, {"chatTemplate", "Chat template"}};
    for (const auto& [key, label] : tokFields) addField(tokForm, key, tr(label));
    v->addWidget(model);
    v->addWidget(tok);
    return box;
}

QWidget* ModelPage::buildQuantization() {
    auto* box = new QGroupBox(tr("Quantization"), this);
    box->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Maximum);
    auto* form = new QFormLayout(box);
    m_quantType = new QComboBox(box);
    m_quantType->setObjectName("quantType");
    m_quantType->addItem(tr("NF4 (4-bit NormalFloat)"));
    m_quantType->addItem(tr("FP4 (4-bit float)"));
    m_doubleQuant = new QCheckBox(tr("Double quantization (8-bit block scales)"), box);
    m_doubleQuant->setObjectName("doubleQuant");
    m_blockSize = new QComboBox(box);
    m_blockSize->setObjectName("blockSize");
    for (int bs = 32; bs <= 4096; bs *= 2) m_blockSize->addItem(QString::number(bs), bs);
    m_computeDtype = new QComboBox(box);
    m_computeDtype->setObjectName("computeDtype");
    m_computeDtype->addItem(tr("bfloat16"), "bf16");
    m_computeDtype->addItem(tr("float16"), "fp16");
    auto* defaults = new QPushButton(tr("QLoRA paper defaults"), box);
    defaults->setToolTip(tr("NF4, double quantization, block size 64, bfloat16 compute"));
    connect(defaults, &QPushButton::clicked, this, [this] {
        QuantSettings s = m_session->quantSettings();
        const QuantSettings d;
        s.type = d.type;
        s.doubleQuant = d.doubleQuant;
        s.blockSize = d.blockSize;
        s.computeDtype = d.computeDtype;
        m_session->setQuantSettings(s);
        writeQuantWidgets();
    });
    form->addRow(tr("Data type"), m_quantType);
    form->addRow(QString(), m_doubleQuant);
    form->addRow(tr("Block size"), m_blockSize);
    form->addRow(tr("Compute dtype"), m_computeDtype);
    // Shown for a GGUF whose linear weights are already quantized (onModelLoaded names the types).
    m_ggufBlocks = new QCheckBox(box);
    m_ggufBlocks->setObjectName("ggufBlocks");
    m_ggufBlocks->setToolTip(tr("Unchecked, the file's weights are re-quantized to the data type above, "
                                "adding its rounding error to the file's."));
    m_ggufBlocks->hide();
    form->addRow(QString(), m_ggufBlocks);
    form->addRow(QString(), defaults);
    connect(m_quantType, &QComboBox::currentIndexChanged, this, &ModelPage::readQuantWidgets);
    connect(m_doubleQuant, &QCheckBox::toggled, this, &ModelPage::readQuantWidgets);
    connect(m_blockSize, &QComboBox::currentIndexChanged, this, &ModelPage::readQuantWidgets);
    connect(m_computeDtype, &QComboBox::currentIndexChanged, this, &ModelPage::readQuantWidgets);
    connect(m_ggufBlocks, &QCheckBox::toggled, this, &ModelPage::readQuantWidgets);
    return box;
}

QWidget* ModelPage::buildMemory() {
    auto* box = new QGroupBox(tr("Weight memory"), this);
    box->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Maximum);
    auto* v = new QVBoxLayout(box);
    auto* budgetRow = new QHBoxLayout;
    m_useGpu = new QCheckBox(box);
    m_useGpu->setObjectName("useDetectedGpu");
    m_useGpu->hide();
    m_budget = new QDoubleSpinBox(box);
    m_budget->setObjectName("memoryBudget");
    m_budget->setRange(0.5, 4096.0);
    m_budget->setDecimals(1);
    m_budget->setSingleStep(1.0);
    m_budget->setSuffix(tr(" GiB"));
    m_budgetNote = new QLabel(box);
    // A GPU from the list sets the budget to what a run can use of it (gpu_presets.h).
    m_gpuPreset = new QComboBox(box);
    m_gpuPreset->setObjectName("gpuPreset");
    m_gpuPreset->addItem(tr("GPU…"));
    for (const GpuTarget& g : gpu_presets())
        m_gpuPreset->addItem(QString::fromStdString(g.name), double(g.usable_bytes()) / kGiB);
    m_gpuPreset->setToolTip(tr("Set the budget to a GPU's memory less %1 for the CUDA context")
                                .arg(formatBytes(double(kCudaContextReserveBytes))));
    connect(m_gpuPreset, &QComboBox::activated, this, [this](int index) {
        if (index == 0) return;
        m_useGpu->setChecked(false);  // the GPU named here, not the one in this machine
        m_budget->setValue(m_gpuPreset->itemData(index).toDouble());
    });
    budgetRow->addWidget(m_useGpu);
    budgetRow->addWidget(new QLabel(tr("Memory budget:"), box));
    budgetRow->addWidget(m_budget);
    budgetRow->addWidget(m_gpuPreset);
    budgetRow->addWidget(m_budgetNote, 1);
    v->addLayout(budgetRow);
    connect(m_useGpu, &QCheckBox::toggled, this, &ModelPage::readQuantWidgets);
    connect(m_budget, &QDoubleSpinBox::valueChanged, this, &ModelPage::readQuantWidgets);

    m_memory = new QTableWidget(4, 6, box);
    m_memory->setObjectName("memoryTable");
    // Two-line headers keep the numeric columns as narrow as their numbers, so the verdict
    // column is in view without scrolling on a laptop-sized window.
    m_memory->setHorizontalHeaderLabels({tr("Storage"), tr("Total"), tr("Linear\nlayers"), tr("Other\n(16-bit)"),
                                         tr("bits/param\n(linear)"), tr("Fits the budget?")});
    m_memory->verticalHeader()->hide();
    m_memory->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_memory->setSelectionMode(QAbstractItemView::NoSelection);
    m_memory->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_memory->horizontalHeader()->setStretchLastSection(true);
    m_memory->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_memory->setWordWrap(false);
    // Six columns do not fit the right column of a 1024-pixel window: scroll, never hide "Fits".
    m_memory->setHorizontalScrollBarPolicy(Qt::ScrollBarAsNeeded);
    fitHeightToRows(m_memory);
    v->addWidget(m_memory);
    auto* note = new QLabel(tr("Base model weights only. LoRA adapters, optimizer state and activations "
                               "come on top of this during training. The linear layers (q, k, v, o, gate, up, "
                               "down) take the 4-bit format; embeddings, norms and an untied lm_head stay "
                               "16-bit. bits/param counts the 4-bit codes and the block scales, as the "
                               "Inspect page does; the code tables (about 1 KiB a tensor) count in the bytes."),
                            box);
    note->setObjectName("memoryNote");
    note->setWordWrap(true);
    v->addWidget(note);
    return box;
}

void ModelPage::setDeviceStatus(const DeviceStatus& status) {
    m_device = status;
    m_useGpu->setVisible(status.cuda);
    if (status.cuda)
        m_useGpu->setText(tr("Use the detected %1 (%2)").arg(status.name, formatBytes(double(status.totalBytes))));
    writeQuantWidgets();
    updateMemory();
}

void ModelPage::writeQuantWidgets() {
    const QuantSettings& s = m_session->quantSettings();
    const QSignalBlocker b1(m_quantType), b2(m_doubleQuant), b3(m_blockSize), b4(m_computeDtype),
        b5(m_useGpu), b6(m_budget), b7(m_ggufBlocks);
    m_quantType->setCurrentIndex(s.type == QuantType::FP4 ? 1 : 0);
    m_doubleQuant->setChecked(s.doubleQuant);
    m_blockSize->setCurrentIndex(m_blockSize->findData(s.blockSize));
    m_computeDtype->setCurrentIndex(m_computeDtype->findData(s.computeDtype));
    m_useGpu->setChecked(s.useDetectedGpu);
    m_ggufBlocks->setChecked(s.ggufBlocks);
    m_budget->setValue(s.budgetGiB);
    m_budget->setEnabled(!(m_device.cuda && s.useDetectedGpu));
}

void ModelPage::readQuantWidgets() {
    QuantSettings s = m_session->quantSettings();
    s.type = m_quantType->currentIndex() == 1 ? QuantType::FP4 : QuantType::NF4;
    s.doubleQuant = m_doubleQuant->isChecked();
    s.blockSize = m_blockSize->currentData().toInt();
    s.computeDtype = m_computeDtype->currentData().toString();
    s.useDetectedGpu = m_useGpu->isChecked();
    s.ggufBlocks = m_ggufBlocks->isChecked();
    s.budgetGiB = m_budget->value();
    m_budget->setEnabled(!(m_device.cuda && s.useDetectedGpu));
    m_session->setQuantSettings(s);
}

void ModelPage::onLoadStarted(const QString& path) {
    m_error->hide();
    m_heading->setText(tr("Opening %1…").arg(QFileInfo(path).fileName()));
}

void ModelPage::onLoadFailed(const QString& path, const QString& message) {
    m_error->setText(tr("<b>Could not open %1</b><br>%2").arg(path.toHtmlEscaped(), message.toHtmlEscaped()));
    m_error->show();
    m_heading->setText(m_session->hasModel() ? m_session->displayName() : tr("No model open"));
}

void ModelPage::onModelLoaded() {
    m_error->hide();
    m_configOnly->setVisible(m_session->isConfigOnly());
    BaseWeightsOptions keep;
    keep.gguf_blocks = true;
    const std::shared_ptr<const Model> model = m_session->model();
    const std::string kept = model ? kept_gguf_blocks(model->weights, model->config, keep).types : std::string();
    m_ggufBlocks->setText(tr("Train on the GGUF's own %1 blocks (no second rounding)").arg(QString::fromStdString(kept)));
    m_ggufBlocks->setVisible(!kept.empty());
    fillSummary();
    updateMemory();
}

void ModelPage::fillSummary() {
    const ModelReport& r = m_session->report();
    const LlamaConfig& c = r.config;
    m_heading->setText(m_session->displayName());
    m_subheading->setText(tr("%1 · %2 parameters · %3 layers · %4")
                              .arg(QString::fromStdString(c.architecture), formatCount(r.parameters))
                              .arg(c.num_layers)
                              .arg(QString::fromStdString(r.format)));
    auto set = [this](const char* key, const QString& text) { m_summary.value(key)->setText(text); };
    set("path", QString::fromStdString(r.path));
    set("format", QString::fromStdString(r.format));
    set("architecture", tr("%1 (%2)").arg(QString::fromStdString(c.architecture), QString::fromStdString(c.model_type)));
    set("parameters", tr("%1 (%2)").arg(formatCount(r.parameters), QLocale().toString(qlonglong(r.parameters))));
    set("layers", QString::number(c.num_layers));
    set("hidden", QString::number(c.hidden_size));
    set("mlp", QString::number(c.intermediate_size));
    set("heads", QString::number(c.num_heads));
    set("kvHeads", c.num_kv_heads == c.num_heads ? QString::number(c.num_kv_heads)
                                                  : tr("%1 (grouped-query, %2 per KV head)")
                                                        .arg(c.num_kv_heads)
                                                        .arg(c.num_heads / std::max<std::int64_t>(1, c.num_kv_heads)));
    set("headDim", QString::number(c.head_dim));
    set("vocab", QString::number(c.vocab_size));
    set("context", tr("%1 tokens").arg(c.max_position_embeddings));
    set("rope", ropeText(c));
    set("tied", yesNo(c.tie_word_embeddings));
    set("dtype", QString::fromStdString(stored_types_text(r.storage)));
    set("prequant", prequantText(c));
    if (r.tokenizer) {
        const TokenizerInfo& t = *r.tokenizer;
        auto token = [](const std::string& s) { return s.empty() ? QStringLiteral("–") : QString::fromStdString(s); };
        set("tokenizer", QString::fromStdString(t.kind));
        set("tokenizerVocab", QString::number(t.vocab_size));
        set("bos", token(t.bos) + (t.add_bos ? tr("  (added to every prompt)") : QString()));
        set("eos", token(t.eos));
        set("chatTemplate", QString::fromStdString(t.chat_template_family));
    } else {
        set("tokenizer", tr("unavailable: %1").arg(QString::fromStdString(r.tokenizer_error)));
        for (const char* key : {"tokenizerVocab", "bos", "eos", "chatTemplate"}) set(key, QStringLiteral("–"));
    }
}

void ModelPage::updateMemory() {
    const QuantSettings& s = m_session->quantSettings();
    const bool gpu = m_device.cuda && s.useDetectedGpu;
    // The detected GPU: what is free on it now (other processes and this one's CUDA context
    // already taken), the budget a run on it plans against (run_budget.h).
    const double budget = gpu ? double(m_device.freeBytes) : s.budgetGiB * kGiB;
    m_budgetNote->setText(gpu            ? tr("(free now of %1 on %2)")
                                               .arg(formatBytes(double(m_device.totalBytes)), m_device.name)
                          : m_device.cuda ? tr("(a smaller GPU to rehearse)")
                                          : tr("(no CUDA device: the GPU you plan to use)"));
    m_memory->horizontalHeaderItem(5)->setText(tr("Fits in %1?").arg(formatBytes(budget)));
    if (!m_session->layout()) {
        m_memory->clearContents();
        return;
    }
    const auto rows = weight_memory_all(m_session->report().config, s.blockSize);
    m_memory->setRowCount(int(rows.size()));
    for (int i = 0; i < int(rows.size()); ++i) {
        const WeightMemory& m = rows[std::size_t(i)];
        const double total = double(m.total_bytes());
        const bool chosen = m.scheme == s.scheme();
        const QString fit = total <= budget ? tr("✓ fits, %1 spare").arg(formatBytes(budget - total))
                                            : tr("✗ does not fit: %1 over").arg(formatBytes(total - budget));
        const QString cells[6] = {schemeLabel(m.scheme) + (chosen ? tr("  ← chosen") : QString()),
                                  formatBytes(total),
                                  formatBytes(double(m.linear_bytes)),
                                  formatBytes(double(m.other_bytes)),
                                  QString::number(m.linear_bits_per_param(), 'f', 3),
                                  fit};
        for (int c = 0; c < 6; ++c) {
            auto* item = new QTableWidgetItem(cells[c]);
            if (c >= 1 && c <= 4) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            QFont f = item->font();
            f.setBold(chosen);
            item->setFont(f);
            m_memory->setItem(i, c, item);
        }
    }
    m_memory->resizeColumnsToContents();
    fitHeightToRows(m_memory);
}

}  // namespace qls::ui
