#include "ui/inspect_page.h"

#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSaveFile>
#include <QScrollArea>
#include <QSplitter>
#include <QTableView>
#include <QTreeWidget>
#include <QVBoxLayout>

#include <map>

#include "ui/model_session.h"
#include "ui/quant_table_model.h"
#include "ui/tensor_detail_panel.h"
#include "ui/ui_format.h"

namespace qls::ui {

namespace {
// Above this many linear parameters the table waits for a click: it quantizes every weight
// three times, which takes minutes on a CPU for a 7B model.
constexpr std::int64_t kAutoTableParams = 2'000'000'000;
constexpr int kNameRole = Qt::UserRole;

std::string moduleOf(const std::string& name, std::string* layer) {
    // model.layers.<n>.<self_attn|mlp>.<module>.weight
    const auto parts = QString::fromStdString(name).split('.');
    if (parts.size() == 6 && parts[0] == "model" && parts[1] == "layers") {
        *layer = parts[2].toStdString();
        return parts[4].toStdString();  // q_proj ... down_proj say which block they belong to
    }
    *layer = {};
    return name;
}
}  // namespace

InspectPage::InspectPage(ModelSession* session, QWidget* parent) : QWidget(parent), m_session(session) {
    m_tree = new QTreeWidget(this);
    m_tree->setObjectName("tensorTree");
    m_tree->setHeaderLabels({tr("Linear weight"), tr("Shape")});
    m_tree->header()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    m_tree->setMinimumWidth(180);
    connect(m_tree, &QTreeWidget::itemSelectionChanged, this, &InspectPage::onSelectionChanged);

    m_detail = new TensorDetailPanel(this);

    m_model = new QuantTableModel(this);
    m_proxy = new QuantTableProxy(this);
    m_proxy->setSourceModel(m_model);
    m_table = new QTableView(this);
    m_table->setObjectName("quantTable");
    m_table->setModel(m_proxy);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(-1, Qt::AscendingOrder);  // model order until the user clicks a header
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->verticalHeader()->hide();
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 8);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->setAlternatingRowColors(true);
    // A click (not a programmatic selection) picks the tensor, so the tree and the table
    // cannot bounce a selection between them.
    connect(m_table, &QTableView::clicked, this, [this](const QModelIndex& index) {
        selectTensor(m_proxy->index(index.row(), 0).data().toString());
    });

    m_tableTitle = new QLabel(tr("<b>Every linear weight</b>"), this);
    m_tableStatus = new QLabel(this);
    m_tableStatus->setObjectName("tableStatus");
    m_progress = new QProgressBar(this);
    m_progress->setObjectName("tableProgress");
    m_progress->setFormat(tr("%v / %m tensors"));
    m_progress->setMaximumWidth(260);
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setObjectName("tableCancel");
    m_compute = new QPushButton(tr("Compute table"), this);
    m_compute->setObjectName("tableCompute");
    m_export = new QPushButton(tr("Export CSV…"), this);
    m_export->setObjectName("tableExport");
    connect(m_cancel, &QPushButton::clicked, this, &InspectPage::cancelTable);
    connect(m_compute, &QPushButton::clicked, this, &InspectPage::computeTable);
    connect(m_export, &QPushButton::clicked, this, &InspectPage::chooseExportPath);

    auto* tableHead = new QHBoxLayout;
    tableHead->addWidget(m_tableTitle);
    tableHead->addWidget(m_tableStatus, 1);
    tableHead->addWidget(m_progress);
    tableHead->addWidget(m_cancel);
    tableHead->addWidget(m_compute);
    tableHead->addWidget(m_export);
    m_verdict = new QLabel(this);
    m_verdict->setObjectName("verdict");
    m_verdict->setWordWrap(true);
    m_verdict->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* tableBox = new QWidget(this);
    auto* tableLayout = new QVBoxLayout(tableBox);
    tableLayout->setContentsMargins(0, 0, 0, 0);
    tableLayout->addLayout(tableHead);
    tableLayout->addWidget(m_table, 1);
    tableLayout->addWidget(m_verdict);

    // The charts keep a readable minimum size; in a small window they scroll rather than
    // push the window wider or squeeze the table away.
    auto* detailScroll = new QScrollArea(this);
    detailScroll->setWidget(m_detail);
    detailScroll->setWidgetResizable(true);
    detailScroll->setFrameShape(QFrame::NoFrame);
    auto* right = new QSplitter(Qt::Vertical, this);
    right->addWidget(detailScroll);
    right->addWidget(tableBox);
    right->setStretchFactor(0, 3);
    right->setStretchFactor(1, 2);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(m_tree);
    split->addWidget(right);
    split->setStretchFactor(1, 1);
    split->setSizes({200, 1200});
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(split);

    connect(&m_tableTask, &BackgroundTask::progressed, this, [this](qint64 done, qint64 total) {
        m_progress->setMaximum(int(total));
        m_progress->setValue(int(done));
    });
    connect(&m_tableTask, &BackgroundTask::failed, this, [this](const QString& message) {
        setTableIdle(tr("failed: %1").arg(message));
        emit tableFailed(message);
    });
    connect(&m_tableTask, &BackgroundTask::cancelled, this, [this] { setTableIdle(tr("cancelled")); });
    connect(session, &ModelSession::modelLoaded, this, &InspectPage::onModelLoaded);
    connect(session, &ModelSession::quantSettingsChanged, this, &InspectPage::onQuantSettingsChanged);
    setTableIdle(tr("open a model to measure it"));
    m_compute->setEnabled(false);
}

void InspectPage::onModelLoaded() {
    m_tableTask.cancel();
    m_model->clear();
    m_tableBlockSize = 0;
    m_verdict->clear();
    m_detail->clear();
    populateTree();
    const auto& report = m_session->report();
    m_compute->setEnabled(true);
    std::int64_t linear = 0;
    if (!report.memory.empty()) linear = report.memory.front().linear_params;
    if (!m_session->linearTensors().empty()) selectTensor(QString::fromStdString(m_session->linearTensors().front()));
    if (linear <= kAutoTableParams)
        computeTable();
    else
        setTableIdle(tr("%1 linear weights: measuring them all takes a while").arg(formatCount(linear)));
}

void InspectPage::onQuantSettingsChanged() {
    const int bs = m_session->quantSettings().blockSize;
    if (!m_session->hasModel()) return;
    if (m_detail->hasResult() && m_detail->result()->blockSize != bs) onSelectionChanged();
    if (m_tableBlockSize != 0 && m_tableBlockSize != bs) computeTable();
}

void InspectPage::populateTree() {
    m_tree->clear();
    std::map<int, QTreeWidgetItem*> layers;
    const auto& tensors = m_session->model()->weights;
    for (const std::string& name : m_session->linearTensors()) {
        std::string layer;
        const std::string module = moduleOf(name, &layer);
        QTreeWidgetItem* parent = nullptr;
        if (!layer.empty()) {
            const int n = std::stoi(layer);
            auto& slot = layers[n];
            if (!slot) {
                slot = new QTreeWidgetItem(m_tree, {tr("Layer %1").arg(n)});
                slot->setFlags(slot->flags() & ~Qt::ItemIsSelectable);
            }
            parent = slot;
        }
        auto* item = parent ? new QTreeWidgetItem(parent) : new QTreeWidgetItem(m_tree);
        item->setText(0, QString::fromStdString(module));
        const auto it = tensors.tensors.find(name);
        if (it != tensors.tensors.end()) {
            QStringList dims;
            for (auto d : it->second.shape) dims << QString::number(d);
            item->setText(1, dims.join(QStringLiteral(" × ")));
        }
        item->setData(0, kNameRole, QString::fromStdString(name));
        item->setToolTip(0, QString::fromStdString(name));
    }
    if (m_tree->topLevelItemCount() > 0) m_tree->topLevelItem(0)->setExpanded(true);
}

bool InspectPage::selectTensor(const QString& name) {
    for (QTreeWidgetItemIterator it(m_tree); *it; ++it) {
        if ((*it)->data(0, kNameRole).toString() == name) {
            if ((*it)->parent()) (*it)->parent()->setExpanded(true);
            m_tree->setCurrentItem(*it);
            if ((*it)->isSelected()) onSelectionChanged();
            return true;
        }
    }
    return false;
}

void InspectPage::onSelectionChanged() {
    const auto items = m_tree->selectedItems();
    if (items.isEmpty() || !m_session->hasModel()) return;
    const QString name = items.front()->data(0, kNameRole).toString();
    if (name.isEmpty()) return;
    m_detail->showTensor(m_session->model(), name.toStdString(), m_session->quantSettings().blockSize);
    highlightTableRow();
}

// The table's row of the tensor selected in the tree, selected and scrolled into view, so the
// charts and the table show the same tensor.
void InspectPage::highlightTableRow() {
    const auto items = m_tree->selectedItems();
    if (items.isEmpty()) return;
    const QString name = items.front()->data(0, kNameRole).toString();
    const auto& rows = m_model->table().rows;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (QString::fromStdString(rows[i].name) != name) continue;
        const QModelIndex index = m_proxy->mapFromSource(m_model->index(int(i), 0));
        m_table->selectionModel()->setCurrentIndex(
            index, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
        m_table->scrollTo(index);
        return;
    }
    m_table->clearSelection();
}

void InspectPage::computeTable() {
    if (!m_session->hasModel()) return;
    const int bs = m_session->quantSettings().blockSize;
    m_model->clear();
    m_verdict->clear();
    m_tableBlockSize = bs;
    m_tableTitle->setText(tr("<b>Every linear weight, block size %1</b>").arg(bs));
    m_tableStatus->setText(tr("measuring…"));
    m_progress->setRange(0, int(m_session->linearTensors().size()));
    m_progress->setValue(0);
    m_progress->show();
    m_cancel->show();
    m_compute->hide();
    m_export->setEnabled(false);
    m_tableTask.start(tr("Measuring the quantization error"),
                      [this, model = m_session->model(), bs](const ProgressFn& progress) -> BackgroundTask::Delivery {
                          auto table = std::make_shared<QuantErrorTable>(quant_error_table(*model, bs, progress));
                          return [this, table] {
                              m_model->setTable(std::move(*table));
                              const QuantErrorTable& t = m_model->table();
                              setTableIdle(t.note.empty() ? tr("%1 tensors").arg(t.rows.size()) : QString());
                              m_verdict->setText(t.note.empty() ? QString::fromStdString(t.verdict)
                                                                : tr("No table: %1.").arg(QString::fromStdString(t.note)));
                              m_export->setEnabled(m_model->hasRows());
                              highlightTableRow();
                              emit tableComputed();
                          };
                      });
}

void InspectPage::cancelTable() { m_tableTask.cancel(); }

bool InspectPage::tableReady() const { return !m_tableTask.isRunning() && m_tableBlockSize != 0 && !m_verdict->text().isEmpty(); }

void InspectPage::setTableIdle(const QString& status) {
    m_tableStatus->setText(status);
    m_progress->hide();
    m_cancel->hide();
    m_compute->show();
    m_compute->setText(m_model->hasRows() ? tr("Recompute") : tr("Compute table"));
    m_export->setEnabled(m_model->hasRows());
}

QString InspectPage::exportCsv(const QString& path) const {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) return file.errorString();
    file.write(m_model->toCsv());
    if (!file.commit()) return file.errorString();
    return {};
}

void InspectPage::chooseExportPath() {
    const QString path = QFileDialog::getSaveFileName(this, tr("Export the error table"),
                                                      QStringLiteral("quantization-error.csv"),
                                                      tr("CSV files (*.csv)"));
    if (path.isEmpty()) return;
    const QString error = exportCsv(path);
    if (!error.isEmpty()) QMessageBox::warning(this, tr("Export CSV"), tr("Could not write %1: %2").arg(path, error));
}

}  // namespace qls::ui
