// Charts follow the desktop palette (light or dark); only the data series carry fixed colours.
#pragma once
#include <QColor>
#include <QString>

class QCustomPlot;

namespace qls::ui {

enum class Series { Nf4, Nf4DoubleQuant, Fp4 };
QColor seriesColor(Series s);

// Background, axes, grid, tick labels and legend in the widget's palette colours.
void applyChartStyle(QCustomPlot* plot);

// Writes the chart as shown to `path` through QSaveFile; returns the error text, empty on success.
QString savePlotPng(QCustomPlot* plot, const QString& path);

}  // namespace qls::ui
