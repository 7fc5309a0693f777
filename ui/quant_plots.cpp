#include "ui/quant_plots.h"

#include <algorithm>

#include "core/quant/quant_tables.h"
#include "ui/chart_style.h"

namespace qls::ui {

namespace {

double binCenter(const Histogram& h, std::size_t i) {
    return h.lo + (double(i) + 0.5) * (h.hi - h.lo) / double(h.counts.size());
}

QCPGraph* addLevels(QCustomPlot* plot, const QString& name, QColor color, Qt::PenStyle style) {
    QCPGraph* g = plot->addGraph();
    g->setName(name);
    g->setLineStyle(QCPGraph::lsImpulse);
    color.setAlpha(200);
    g->setPen(QPen(color, 1.4, style));
    return g;
}

void setLevels(QCPGraph* g, const std::array<float, 16>& values, double height) {
    QVector<double> keys, heights;
    std::vector<float> sorted(values.begin(), values.end());
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());  // FP4 has +0 twice
    for (float v : sorted) {
        keys.push_back(v);
        heights.push_back(height);
    }
    g->setData(keys, heights, true);
}

// A row above the axis rect: the histograms fill their whole plot area (the levels reach the
// top, the bars peak in the middle, the error curves spread to both sides), so any inset
// corner would cover data.
void placeLegendAbove(QCustomPlot* plot) {
    plot->legend->setVisible(true);
    plot->axisRect()->insetLayout()->take(plot->legend);
    plot->plotLayout()->insertRow(0);
    plot->plotLayout()->addElement(0, 0, plot->legend);
    plot->plotLayout()->setRowStretchFactor(0, 0.001);
    plot->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    plot->legend->setMargins(QMargins(6, 2, 6, 2));
}

}  // namespace

WeightHistogramPlot::WeightHistogramPlot(QWidget* parent) : StyledPlot(parent) {
    m_bars = new QCPBars(xAxis, yAxis);
    m_bars->setName(tr("weights"));
    m_bars->setPen(Qt::NoPen);
    m_nf4 = addLevels(this, tr("NF4 levels"), seriesColor(Series::Nf4), Qt::SolidLine);
    m_fp4 = addLevels(this, tr("FP4 levels"), seriesColor(Series::Fp4), Qt::DashLine);
    xAxis->setLabel(tr("weight / block absmax"));
    yAxis->setLabel(tr("count"));
    xAxis->setRange(-1.05, 1.05);
    placeLegendAbove(this);
    applyPalette();
}

void WeightHistogramPlot::applyPalette() {
    StyledPlot::applyPalette();
    QColor fill = palette().color(QPalette::WindowText);
    fill.setAlpha(90);
    m_bars->setBrush(fill);
}

void WeightHistogramPlot::setHistogram(const Histogram& h) {
    QVector<double> keys, counts;
    double top = 0;
    // The end bins hold each block's own maximum (exactly +-1): leave them out of the y range
    // so that the distribution's shape stays readable.
    double topInner = 0;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
        keys.push_back(binCenter(h, i));
        counts.push_back(double(h.counts[i]));
        top = std::max(top, counts.back());
        if (i > 0 && i + 1 < h.counts.size()) topInner = std::max(topInner, counts.back());
    }
    const double height = 1.08 * (topInner > 0 ? topInner : top);
    m_bars->setWidth(h.counts.empty() ? 0.01 : (h.hi - h.lo) / double(h.counts.size()));
    m_bars->setData(keys, counts, true);
    setLevels(m_nf4, nf4_values(), height);
    setLevels(m_fp4, fp4_values(), height);
    yAxis->setRange(0, height > 0 ? height * 1.05 : 1.0);
    replot(rpQueuedReplot);
}

void WeightHistogramPlot::clearData() {
    m_bars->data()->clear();
    m_nf4->data()->clear();
    m_fp4->data()->clear();
    replot(rpQueuedReplot);
}

ErrorHistogramPlot::ErrorHistogramPlot(QWidget* parent) : StyledPlot(parent) {
    auto make = [this](const QString& name, QColor color) {
        QCPGraph* g = addGraph();
        g->setName(name);
        g->setLineStyle(QCPGraph::lsStepCenter);
        g->setPen(QPen(color, 1.5));
        color.setAlpha(60);
        g->setBrush(color);
        return g;
    };
    m_nf4 = make(tr("NF4"), seriesColor(Series::Nf4));
    m_fp4 = make(tr("FP4"), seriesColor(Series::Fp4));
    xAxis->setLabel(tr("error / block absmax"));
    yAxis->setLabel(tr("count"));
    placeLegendAbove(this);
    applyPalette();
}

void ErrorHistogramPlot::setVariants(const std::array<QuantVariantStats, 3>& variants) {
    double top = 0, reach = 0;
    for (const auto& v : variants) {
        if (v.double_quant) continue;  // NF4+DQ's errors look like NF4's; two curves stay readable
        const Histogram& h = v.stats.error;
        QVector<double> keys, counts;
        for (std::size_t i = 0; i < h.counts.size(); ++i) {
            keys.push_back(binCenter(h, i));
            counts.push_back(double(h.counts[i]));
            top = std::max(top, counts.back());
            if (h.counts[i] > 0) reach = std::max(reach, std::fabs(keys.back()));
        }
        curve(v.type)->setData(keys, counts, true);
    }
    const double span = std::max(0.02, std::min(variants[0].stats.error.hi, reach * 1.15));
    xAxis->setRange(-span, span);
    yAxis->setRange(0, top > 0 ? top * 1.1 : 1.0);
    replot(rpQueuedReplot);
}

void ErrorHistogramPlot::clearData() {
    m_nf4->data()->clear();
    m_fp4->data()->clear();
    replot(rpQueuedReplot);
}

BlockErrorMapPlot::BlockErrorMapPlot(QWidget* parent) : StyledPlot(parent) {
    m_map = new QCPColorMap(xAxis, yAxis);
    m_scale = new QCPColorScale(this);
    plotLayout()->addElement(0, 1, m_scale);
    m_scale->setType(QCPAxis::atRight);
    m_map->setColorScale(m_scale);
    QCPColorGradient gradient(QCPColorGradient::gpThermal);
    gradient.setNanHandling(QCPColorGradient::nhTransparent);
    m_map->setGradient(gradient);
    m_map->setInterpolate(false);
    yAxis->setRangeReversed(true);  // row 0 at the top, as the matrix is written
    for (QCPAxis* axis : {xAxis, yAxis}) {
        // Cells are whole rows and blocks: no ticks between them.
        QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
        ticker->setTickStep(1.0);
        ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
        axis->setTicker(ticker);
    }
    auto* margins = new QCPMarginGroup(this);
    axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    applyPalette();
}

void BlockErrorMapPlot::applyPalette() {
    StyledPlot::applyPalette();
    const QColor text = palette().color(QPalette::WindowText);
    for (QCPAxis* axis : m_scale->axis()->axisRect()->axes()) axis->setTickLabelColor(text);
    m_scale->axis()->setBasePen(QPen(text));
    m_scale->axis()->setTickPen(QPen(text));
    m_scale->axis()->setLabelColor(text);
}

void BlockErrorMapPlot::setBlocks(const std::vector<float>& values, const BlockGrid& grid,
                                  int blockSize, const QString& metric, double top) {
    auto* data = new QCPColorMapData(int(grid.cols), int(grid.rows),
                                     QCPRange(0, double(grid.cols - 1)), QCPRange(0, double(grid.rows - 1)));
    data->fill(qQNaN());
    for (std::size_t b = 0; b < values.size(); ++b)
        data->setCell(int(std::int64_t(b) % grid.cols), int(std::int64_t(b) / grid.cols), values[b]);
    m_map->setData(data);  // takes ownership
    m_map->setDataRange(QCPRange(0.0, top > 0.0 ? top : 1.0));  // an exact tensor has no error to colour
    if (grid.matrixLayout) {
        xAxis->setLabel(tr("block along the row (%1 weights each)").arg(blockSize));
        yAxis->setLabel(tr("row (output feature)"));
    } else {
        xAxis->setLabel(tr("block index mod %1 (blocks cross rows: flat grid)").arg(grid.cols));
        yAxis->setLabel(tr("block index / %1").arg(grid.cols));
    }
    m_scale->axis()->setLabel(metric);
    rescaleAxes();
    xAxis->setRange(-0.5, double(grid.cols) - 0.5);
    yAxis->setRange(-0.5, double(grid.rows) - 0.5);
    replot(rpQueuedReplot);
}

void BlockErrorMapPlot::clearData() {
    m_map->data()->clear();
    replot(rpQueuedReplot);
}

}  // namespace qls::ui
