#include "ui/loss_chart.h"

#include <cmath>

namespace qls::ui {

LossChart::LossChart(QWidget* parent) : LiveChart(tr("Training loss"), parent) {
    const QColor base = palette8(0);
    QColor faint = base;
    faint.setAlpha(90);
    m_raw = addGraph();
    m_raw->setName(tr("loss"));
    m_raw->setPen(QPen(faint, 1));
    m_smooth = addGraph();
    m_smooth->setName(tr("smoothed"));
    m_smooth->setPen(QPen(base, 2.2));
    m_valid = addGraph();
    m_valid->setName(tr("validation"));
    m_valid->setLineStyle(QCPGraph::lsLine);
    m_valid->setPen(QPen(palette8(1), 1.2, Qt::DashLine));
    m_valid->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, palette8(1), palette8(1), 7));
    xAxis->setLabel(tr("step"));
    yAxis->setLabel(tr("loss (nats / token)"));
    legend->setVisible(true);
    axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
}

void LossChart::clear() {
    m_raw->data()->clear();
    m_smooth->data()->clear();
    m_valid->data()->clear();
    m_ema = 0;
    m_emaCount = 0;
    markDirty();
}

void LossChart::addStep(const StepMetrics& s) {
    if (!std::isfinite(s.loss)) return;
    m_raw->addData(double(s.step), s.loss);
    m_ema = kSmoothing * m_ema + (1 - kSmoothing) * s.loss;
    ++m_emaCount;
    m_smooth->addData(double(s.step), m_ema / (1 - std::pow(kSmoothing, m_emaCount)));
    markDirty();
}

void LossChart::addEval(const EvalResult& r) {
    if (!std::isfinite(r.loss)) return;
    m_valid->addData(double(r.step), r.loss);
    markDirty();
}

void LossChart::setRun(const RunHistory& run) {
    clear();
    for (const StepMetrics& s : run.steps) addStep(s);
    for (const EvalResult& r : run.evals) addEval(r);
}

void LossChart::addOverlay(const RunHistory& run) {
    const QColor color = palette8(2 + int(m_overlays.size()) / 2);
    QCPGraph* curve = addGraph();
    curve->setName(tr("%1 (smoothed)").arg(run.name));
    curve->setPen(QPen(color, 1.8, Qt::DashDotLine));
    double ema = 0;
    int n = 0;
    for (const StepMetrics& s : run.steps) {
        if (!std::isfinite(s.loss)) continue;
        ema = kSmoothing * ema + (1 - kSmoothing) * s.loss;
        ++n;
        curve->addData(double(s.step), ema / (1 - std::pow(kSmoothing, n)));
    }
    QCPGraph* valid = addGraph();
    valid->setName(tr("%1 validation").arg(run.name));
    valid->setLineStyle(QCPGraph::lsNone);
    valid->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, color, color, 7));
    for (const EvalResult& r : run.evals) valid->addData(double(r.step), r.loss);
    if (run.evals.empty()) valid->removeFromLegend();
    m_overlays.push_back(curve);
    m_overlays.push_back(valid);
    markDirty();
}

void LossChart::clearOverlays() {
    for (QCPGraph* g : m_overlays) removeGraph(g);
    m_overlays.clear();
    markDirty();
}

}  // namespace qls::ui
