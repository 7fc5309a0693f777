// Charts follow the desktop palette (light or dark); only the data series carry fixed colours.
#pragma once
#include <QColor>
#include <QString>
#include <qcustomplot.h>

namespace qls::ui {

enum class Series { Nf4, Nf4DoubleQuant, Fp4 };
QColor seriesColor(Series s);

// Background, axes, grid, tick labels and legend in the widget's palette colours.
void applyChartStyle(QCustomPlot* plot);

// Writes the chart as shown to `path` through QSaveFile; returns the error text, empty on success.
QString savePlotPng(QCustomPlot* plot, const QString& path);

// A chart whose palette-drawn parts follow the palette when the desktop switches between light
// and dark while the studio runs (QCustomPlot paints with the colours it was given once).
class StyledPlot : public QCustomPlot {
    Q_OBJECT
public:
    using QCustomPlot::QCustomPlot;

protected:
    // applyChartStyle; subclasses add their own palette-drawn parts and call it from their
    // constructor.
    virtual void applyPalette() { applyChartStyle(this); }
    void changeEvent(QEvent* event) override;
};

}  // namespace qls::ui
