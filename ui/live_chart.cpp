#include "ui/live_chart.h"

#include "ui/chart_style.h"

namespace qls::ui {

QColor palette8(int i) {
    static const QColor colors[] = {QColor(0, 114, 178),  QColor(213, 94, 0),   QColor(0, 158, 115),
                                    QColor(204, 121, 167), QColor(230, 159, 0), QColor(86, 180, 233),
                                    QColor(120, 120, 120), QColor(240, 228, 66)};
    return colors[((i % 8) + 8) % 8];
}

LiveChart::LiveChart(const QString& title, QWidget* parent) : StyledPlot(parent) {
    plotLayout()->insertRow(0);
    m_title = new QCPTextElement(this, title, QFont(font().family(), -1, QFont::Bold));
    plotLayout()->addElement(0, 0, m_title);
    setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    setNoAntialiasingOnDrag(true);
    applyPalette();
    connect(this, &QCustomPlot::mousePress, this, &LiveChart::stopFollowing);
    connect(this, &QCustomPlot::mouseWheel, this, &LiveChart::stopFollowing);
    connect(this, &QCustomPlot::mouseDoubleClick, this, &LiveChart::resetView);
    setMinimumHeight(110);  // three stacked on the Train page still fit a 700-pixel-high window
}

void LiveChart::setTitle(const QString& title) { m_title->setText(title); }

QString LiveChart::title() const { return m_title->text(); }

void LiveChart::applyPalette() {
    StyledPlot::applyPalette();
    m_title->setTextColor(palette().color(QPalette::WindowText));
}

void LiveChart::refresh() {
    if (!m_dirty) return;
    m_dirty = false;
    markShortSeries();
    if (m_follow) fitView();
    replot(rpQueuedReplot);
}

// A line through one point draws nothing and one through three hides where its points are:
// short series get a marker on each point (a one-step run still shows its loss), dropped once
// the series is long enough for its line to carry it.
void LiveChart::markShortSeries() {
    constexpr int kMarkedBelow = 16;
    constexpr const char* kAdded = "qlsShortSeriesMarker";
    for (int i = 0; i < graphCount(); ++i) {
        QCPGraph* g = graph(i);
        const bool added = g->property(kAdded).toBool();
        if (g->lineStyle() == QCPGraph::lsNone || (!added && !g->scatterStyle().isNone())) continue;
        const bool want = g->dataCount() > 0 && g->dataCount() < kMarkedBelow;
        if (want == added) continue;
        const QColor color = g->pen().color();
        g->setScatterStyle(want ? QCPScatterStyle(QCPScatterStyle::ssDisc, color, color, 6) : QCPScatterStyle());
        g->setProperty(kAdded, want);
    }
}

void LiveChart::resetView() {
    m_follow = true;
    fitView();
    replot(rpQueuedReplot);
}

int LiveChart::pointCount() const { return graphCount() > 0 ? graph(0)->dataCount() : 0; }

void LiveChart::placeLegendBeside() {
    legend->setVisible(true);
    axisRect()->insetLayout()->take(legend);
    plotLayout()->addElement(1, 1, legend);
    plotLayout()->setColumnStretchFactor(1, 0.001);
    legend->setMargins(QMargins(6, 4, 6, 4));
}

void LiveChart::fitView() {
    rescaleAxes(true);
    const QCPRange y = yAxis->range();
    const double pad = y.size() > 0 ? 0.05 * y.size() : std::max(1e-9, 0.05 * std::abs(y.center()));
    yAxis->setRange(y.lower - pad, y.upper + pad);
    if (xAxis->range().size() <= 0) xAxis->setRange(xAxis->range().center() - 0.5, xAxis->range().center() + 0.5);
}

}  // namespace qls::ui
