// One per-step quantity over steps (learning rate, gradient norm, tokens per second).
#pragma once
#include "ui/live_chart.h"

namespace qls::ui {

class MetricChart : public LiveChart {
    Q_OBJECT
public:
    MetricChart(const QString& title, const QString& yLabel, QColor color, QWidget* parent = nullptr);

    void clear();
    void add(double step, double value);
    QCPGraph* series() const { return m_series; }

protected:
    void fitView() override;  // from zero, so a flat rate reads as flat

private:
    QCPGraph* m_series;
};

}  // namespace qls::ui
