#include "ui/chart_style.h"

#include <QSaveFile>
#include <qcustomplot.h>

namespace qls::ui {

QColor seriesColor(Series s) {
    // Okabe-Ito blue / green / orange: distinct on light and dark backgrounds and for
    // colour-blind readers.
    switch (s) {
    case Series::Nf4: return QColor(0, 114, 178);
    case Series::Nf4DoubleQuant: return QColor(0, 158, 115);
    case Series::Fp4: return QColor(230, 159, 0);
    }
    return {};
}

static void styleAxis(QCPAxis* axis, const QPalette& pal) {
    const QColor text = pal.color(QPalette::WindowText);
    QColor grid = text;
    grid.setAlpha(40);
    axis->setBasePen(QPen(text));
    axis->setTickPen(QPen(text));
    axis->setSubTickPen(QPen(text));
    axis->setTickLabelColor(text);
    axis->setLabelColor(text);
    axis->grid()->setPen(QPen(grid, 1, Qt::DotLine));
    axis->grid()->setZeroLinePen(Qt::NoPen);
}

void applyChartStyle(QCustomPlot* plot) {
    const QPalette pal = plot->palette();
    plot->setBackground(pal.brush(QPalette::Base));
    plot->axisRect()->setBackground(pal.brush(QPalette::Base));
    for (QCPAxis* axis : plot->axisRect()->axes()) styleAxis(axis, pal);
    plot->legend->setBrush(pal.brush(QPalette::Base));
    plot->legend->setBorderPen(QPen(pal.color(QPalette::Mid)));
    plot->legend->setTextColor(pal.color(QPalette::WindowText));
    QFont small = plot->font();
    small.setPointSizeF(small.pointSizeF() * 0.9);
    plot->legend->setFont(small);
}

void StyledPlot::changeEvent(QEvent* event) {
    QCustomPlot::changeEvent(event);
    if (event->type() == QEvent::PaletteChange || event->type() == QEvent::ApplicationPaletteChange) {
        applyPalette();
        replot(rpQueuedReplot);
    }
}

QString savePlotPng(QCustomPlot* plot, const QString& path) {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) return file.errorString();
    const QPixmap pixmap = plot->toPixmap(plot->width(), plot->height(), 2.0);
    if (!pixmap.save(&file, "PNG")) {
        file.cancelWriting();
        return QObject::tr("could not encode the PNG");
    }
    if (!file.commit()) return file.errorString();
    return {};
}

}  // namespace qls::ui
