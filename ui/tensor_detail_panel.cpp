#include "ui/tensor_detail_panel.h"

#include <QComboBox>
#include <QFileDialog>
#include <QGridLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QTableWidget>
#include <QStyle>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/chart_style.h"
#include "ui/quant_plots.h"
#include "ui/table_util.h"
#include "ui/ui_format.h"

namespace qls::ui {

namespace {
QString shapeText(const Shape& s) {
    QStringList parts;
    for (auto d : s) parts << QString::number(d);
    return parts.join(QStringLiteral(" × "));
}
}  // namespace

TensorDetailPanel::TensorDetailPanel(QWidget* parent) : QWidget(parent) {
    m_title = new QLabel(tr("Select a tensor on the left."), this);
    m_title->setObjectName("tensorTitle");
    QFont bold = m_title->font();
    bold.setBold(true);
    m_title->setFont(bold);
    m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_title->setWordWrap(true);  // a long tensor name must not set the window's minimum width
    m_message = new QLabel(this);
    m_message->setObjectName("tensorMessage");
    m_message->setWordWrap(true);
    m_message->hide();

    m_weights = new WeightHistogramPlot(this);
    m_weights->setObjectName("weightHistogram");
    m_errors = new ErrorHistogramPlot(this);
    m_errors->setObjectName("errorHistogram");
    m_map = new BlockErrorMapPlot(this);
    m_map->setObjectName("blockErrorMap");

    auto* mapControls = new QWidget(this);
    auto* mapRow = new QHBoxLayout(mapControls);
    mapRow->setContentsMargins(0, 0, 0, 0);
    m_mapVariant = new QComboBox(mapControls);
    m_mapVariant->setObjectName("mapVariant");
    m_mapVariant->addItems({tr("NF4"), tr("NF4+DQ"), tr("FP4")});
    m_mapMetric = new QComboBox(mapControls);
    m_mapMetric->setObjectName("mapMetric");
    m_mapMetric->addItems({tr("MSE"), tr("max |error|")});
    mapRow->addWidget(m_mapVariant);
    mapRow->addWidget(m_mapMetric);
    connect(m_mapVariant, &QComboBox::currentIndexChanged, this, &TensorDetailPanel::updateMap);
    connect(m_mapMetric, &QComboBox::currentIndexChanged, this, &TensorDetailPanel::updateMap);

    m_figures = new QTableWidget(3, 4, this);
    m_figures->setObjectName("variantFigures");
    // Two-line headers and a table only as wide as its numbers: it fits the ~300 pixels this
    // column has in a 1024-pixel window and stays compact in a wide one.
    m_figures->setHorizontalHeaderLabels({tr("MSE"), tr("max\n|error|"), tr("SNR\ndB"), tr("bits/\nparam")});
    m_figures->setVerticalHeaderLabels({tr("NF4"), tr("NF4+DQ"), tr("FP4")});
    m_figures->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_figures->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_figures->setSizeAdjustPolicy(QAbstractScrollArea::AdjustToContents);
    m_figures->setSizePolicy(QSizePolicy::Maximum, QSizePolicy::Fixed);
    m_figures->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_figures->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    fitHeightToRows(m_figures);

    auto* figuresBox = new QWidget(this);
    auto* figuresLayout = new QVBoxLayout(figuresBox);
    figuresLayout->setContentsMargins(0, 0, 0, 0);
    auto* figuresTitle = new QLabel(tr("<b>This tensor, three ways</b>"), figuresBox);
    figuresLayout->addWidget(figuresTitle);
    figuresLayout->addWidget(m_figures);
    auto* legend = new QLabel(tr("Error: dequantized minus original weight. SNR: signal over error power. "
                                 "bits/param: the 4-bit codes and the block scales. The block map keeps one "
                                 "colour scale, 0 to the largest block error of the three, so they compare."),
                              figuresBox);
    legend->setWordWrap(true);
    figuresLayout->addWidget(legend);
    figuresLayout->addStretch();

    auto* grid = new QGridLayout;
    grid->addWidget(chartBox(tr("Block-normalized weights and the 4-bit levels"), m_weights), 0, 0);
    grid->addWidget(chartBox(tr("Quantization error, NF4 vs FP4"), m_errors), 0, 1);
    grid->addWidget(chartBox(tr("Error per block"), m_map, mapControls), 1, 0);
    grid->addWidget(figuresBox, 1, 1);
    grid->setRowStretch(0, 1);
    grid->setRowStretch(1, 1);
    grid->setColumnStretch(0, 1);
    grid->setColumnStretch(1, 1);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_title);
    layout->addWidget(m_message);
    layout->addLayout(grid, 1);

    connect(&m_task, &BackgroundTask::failed, this, [this](const QString& message) {
        m_message->setText(tr("Could not measure this tensor: %1").arg(message));
        m_message->show();
        emit tensorFailed(message);
    });
}

QWidget* TensorDetailPanel::chartBox(const QString& title, QCustomPlot* plot, QWidget* extra) {
    auto* box = new QWidget(this);
    auto* v = new QVBoxLayout(box);
    v->setContentsMargins(0, 0, 0, 0);
    v->setSpacing(2);
    auto* head = new QHBoxLayout;
    auto* heading = new QLabel(QStringLiteral("<b>%1</b>").arg(title.toHtmlEscaped()), box);
    heading->setWordWrap(true);  // wraps in a narrow window instead of widening it
    head->addWidget(heading, 1);
    if (extra) head->addWidget(extra);
    // An icon, not "Save PNG…": three of these share a row with the titles and the map's
    // combo boxes in a 1024-pixel window.
    auto* save = new QToolButton(box);
    save->setIcon(style()->standardIcon(QStyle::SP_DialogSaveButton));
    save->setToolTip(tr("Save this chart as PNG…"));
    save->setAutoRaise(true);
    save->setObjectName(plot->objectName() + "Save");
    connect(save, &QToolButton::clicked, this, [this, plot] { savePng(plot, plot->objectName()); });
    head->addWidget(save);
    v->addLayout(head);
    plot->setMinimumSize(240, 150);  // four charts stay whole in a 1024 x 700 window
    v->addWidget(plot, 1);
    return box;
}

void TensorDetailPanel::showTensor(std::shared_ptr<const Model> model, const std::string& name, int blockSize) {
    m_title->setText(tr("%1 — measuring with block size %2…").arg(QString::fromStdString(name)).arg(blockSize));
    m_message->hide();
    m_task.start(tr("Measuring %1").arg(QString::fromStdString(name)),
                 [this, model = std::move(model), name, blockSize](const ProgressFn&) -> BackgroundTask::Delivery {
                     auto result = std::make_shared<TensorInspection>(inspectTensor(*model, name, blockSize));
                     return [this, result] {
                         m_result = std::move(*result);
                         showResult();
                     };
                 });
}

void TensorDetailPanel::clear() {
    m_task.cancel();
    m_result.reset();
    m_title->setText(tr("Select a tensor on the left."));
    m_message->hide();
    m_weights->clearData();
    m_errors->clearData();
    m_map->clearData();
    m_figures->clearContents();
}

void TensorDetailPanel::showResult() {
    const TensorInspection& r = *m_result;
    m_title->setText(tr("%1   [%2]   block size %3, %4 blocks")
                         .arg(QString::fromStdString(r.name), shapeText(r.shape))
                         .arg(r.blockSize)
                         .arg(r.grid.blocks));
    m_weights->setHistogram(r.variants[0].stats.normalized);
    m_errors->setVariants(r.variants);
    for (int i = 0; i < 3; ++i) {
        const QuantErrorStats& s = r.variants[std::size_t(i)].stats;
        const QString cells[4] = {formatNumber(s.mse, 'e', 3), formatNumber(s.max_abs_error, 'f', 5),
                                  formatNumber(s.snr_db, 'f', 2), formatNumber(s.bits_per_param, 'f', 3)};
        for (int c = 0; c < 4; ++c) {
            auto* item = new QTableWidgetItem(cells[c]);
            item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            m_figures->setItem(i, c, item);
        }
    }
    fitHeightToRows(m_figures);
    updateMap();
    emit tensorShown(QString::fromStdString(r.name));
}

void TensorDetailPanel::updateMap() {
    if (!m_result) return;
    const QuantErrorStats& s = m_result->variants[std::size_t(m_mapVariant->currentIndex())].stats;
    const bool mse = m_mapMetric->currentIndex() == 0;
    m_map->setBlocks(mse ? s.block_mse : s.block_max_abs_error, m_result->grid, m_result->blockSize,
                     tr("%1 %2 (shared scale)").arg(m_mapVariant->currentText(), m_mapMetric->currentText()),
                     blockErrorTop(*m_result, mse));
}

void TensorDetailPanel::savePng(QCustomPlot* plot, const QString& suggestedName) {
    QString base = suggestedName;
    if (m_result) base = QString::fromStdString(m_result->name) + "-" + suggestedName;
    const QString path = QFileDialog::getSaveFileName(this, tr("Save chart as PNG"), base + ".png",
                                                      tr("PNG images (*.png)"));
    if (path.isEmpty()) return;
    const QString error = savePlotPng(plot, path);
    if (!error.isEmpty()) QMessageBox::warning(this, tr("Save PNG"), tr("Could not write %1: %2").arg(path, error));
}

}  // namespace qls::ui
