#include "ui/metric_chart.h"

#include <cmath>

namespace qls::ui {

MetricChart::MetricChart(const QString& title, const QString& yLabel, QColor color, QWidget* parent)
    : LiveChart(title, parent) {
    m_series = addGraph();
    m_series->setPen(QPen(color, 1.6));
    xAxis->setLabel(tr("step"));
    yAxis->setLabel(yLabel);
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    xAxis->setTickLabelFont(small);
    yAxis->setTickLabelFont(small);
    xAxis->setLabelFont(small);
    yAxis->setLabelFont(small);
}

void MetricChart::clear() {
    m_series->data()->clear();
    markDirty();
}

void MetricChart::add(double step, double value) {
    if (!std::isfinite(value)) return;
    m_series->addData(step, value);
    markDirty();
}

void MetricChart::fitView() {
    LiveChart::fitView();
    bool found = false;
    const QCPRange y = m_series->getValueRange(found);
    if (found && y.lower >= 0) yAxis->setRange(0, y.upper > 0 ? y.upper * 1.08 : 1.0);
}

}  // namespace qls::ui
