#include "ui/paging_panel.h"

#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTableWidget>
#include <QToolTip>
#include <QVBoxLayout>

#include <cmath>

#include "ui/ui_format.h"

namespace qls::ui {

namespace {
constexpr double kMiB = 1024.0 * 1024.0;

QString directionText(PagingEvent::Direction d) {
    return d == PagingEvent::Direction::ToDevice ? QObject::tr("to device") : QObject::tr("to host");
}
}  // namespace

PagingChart::PagingChart(QWidget* parent) : LiveChart(tr("Optimizer paging"), parent) {
    m_toDevice = new QCPBars(xAxis, yAxis);
    m_toDevice->setName(tr("to device ↑"));
    m_toDevice->setPen(Qt::NoPen);
    m_toDevice->setBrush(palette8(0));
    m_toHost = new QCPBars(xAxis, yAxis);
    m_toHost->setName(tr("to host ↓"));
    m_toHost->setPen(Qt::NoPen);
    m_toHost->setBrush(palette8(1));
    xAxis->setLabel(tr("time (s)"));
    yAxis->setLabel(tr("MiB moved"));
    placeLegendBeside();  // bars reach both edges
    setMouseTracking(true);
    connect(this, &QCustomPlot::mouseMove, this, &PagingChart::showTip);
}

void PagingChart::clear() {
    m_toDevice->data()->clear();
    m_toHost->data()->clear();
    m_events.clear();
    markDirty();
}

void PagingChart::addEvent(const PagingEvent& e) {
    const double mib = double(e.bytes) / kMiB;
    if (e.direction == PagingEvent::Direction::ToDevice) m_toDevice->addData(e.time_s, mib);
    else m_toHost->addData(e.time_s, -mib);
    m_events.push_back(e);
    markDirty();
}

void PagingChart::fitView() {
    LiveChart::fitView();
    const double span = xAxis->range().size();
    // Bars a fixed fraction of the visible span wide, so that they stay visible when zoomed out.
    const double width = span > 0 ? span / 150 : 0.01;
    m_toDevice->setWidth(width);
    m_toHost->setWidth(width);
    const QCPRange y = yAxis->range();
    const double reach = std::max({std::abs(y.lower), std::abs(y.upper), 0.01});
    yAxis->setRange(-reach * 1.1, reach * 1.1);
}

void PagingChart::showTip(QMouseEvent* event) {
    if (m_events.empty()) return;
    const double t = xAxis->pixelToCoord(event->pos().x());
    const double tolerance = std::abs(xAxis->pixelToCoord(6) - xAxis->pixelToCoord(0));
    const PagingEvent* best = nullptr;
    for (const PagingEvent& e : m_events)
        if (std::abs(e.time_s - t) <= tolerance && (!best || std::abs(e.time_s - t) < std::abs(best->time_s - t)))
            best = &e;
    if (!best) {
        QToolTip::hideText();
        return;
    }
    QToolTip::showText(event->globalPosition().toPoint(),
                       tr("%1 s, step %2\n%3 %4 (%5 pages)\n%6")
                           .arg(best->time_s, 0, 'f', 2)
                           .arg(best->step)
                           .arg(directionText(best->direction), formatBytes(double(best->bytes)))
                           .arg(best->pages)
                           .arg(QString::fromStdString(best->reason)),
                       this);
}

PagingPanel::PagingPanel(QWidget* parent) : QWidget(parent) {
    m_chart = new PagingChart(this);
    m_table = new QTableWidget(0, 6, this);
    m_table->setObjectName("pagingTable");
    m_table->setHorizontalHeaderLabels({tr("time (s)"), tr("step"), tr("direction"), tr("bytes"), tr("pages"), tr("reason")});
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->verticalHeader()->hide();
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_summary = new QLabel(tr("No paging: the optimizer state stays on the device. Set an optimizer budget on the "
                              "Hyperparameters page to rehearse a smaller GPU."),
                           this);
    m_summary->setWordWrap(true);
    // Side by side: the panel shares the Train page's lower row, which a 700-pixel screen keeps short.
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(m_chart);
    split->addWidget(m_table);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_summary);
    layout->addWidget(split, 1);
}

void PagingPanel::clear() {
    m_chart->clear();
    m_table->setRowCount(0);
    m_bytesIn = m_bytesOut = m_moves = 0;
}

void PagingPanel::addEvent(const PagingEvent& e) {
    m_chart->addEvent(e);
    if (m_table->rowCount() >= kMaxRows) m_table->removeRow(0);
    const int row = m_table->rowCount();
    m_table->insertRow(row);
    const QStringList cells = {QString::number(e.time_s, 'f', 3), QString::number(e.step),
                               directionText(e.direction), formatBytes(double(e.bytes)), QString::number(e.pages),
                               QString::fromStdString(e.reason)};
    for (int c = 0; c < cells.size(); ++c) m_table->setItem(row, c, new QTableWidgetItem(cells[c]));
    ++m_moves;
    (e.direction == PagingEvent::Direction::ToDevice ? m_bytesIn : m_bytesOut) += e.bytes;
    m_summary->setText(tr("%1 moves: %2 to the device, %3 back to the host")
                           .arg(m_moves)
                           .arg(formatBytes(double(m_bytesIn)), formatBytes(double(m_bytesOut))));
}

}  // namespace qls::ui
