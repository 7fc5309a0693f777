#include "ui/memory_chart.h"

#include <QString>

namespace qls::ui {

namespace {
constexpr double kMiB = 1024.0 * 1024.0;
// A budget line more than this many times the data's top would flatten the data to the
// bottom pixels (36 MiB under 16 GiB): the axis then follows the data and a note names the line.
constexpr double kOffScaleRatio = 3.0;

QString gib(double mib) { return QString::number(mib / 1024.0, 'f', mib >= 10240 ? 0 : 1) + " GiB"; }
}

MemoryChart::MemoryChart(QWidget* parent) : LiveChart(tr("Device memory by use"), parent) {
    int colour = 0;
    QCPGraph* below = nullptr;
    for (Usage u : kAllUsages) {
        if (!usage_on_device(u)) continue;
        QCPGraph* g = addGraph();
        g->setName(QString::fromLatin1(usage_name(u).data()));
        QColor c = palette8(colour++);
        g->setPen(QPen(c.darker(120), 1));
        c.setAlpha(150);
        g->setBrush(c);
        // Each layer holds the running sum; filling down to the layer below shows its own share.
        if (below) g->setChannelFillGraph(below);
        below = g;
        m_layers.push_back(g);
    }
    m_host = addGraph();
    m_host->setName(tr("host (paged + offloaded)"));
    // Solid and unfilled, in the one palette colour no layer uses, so that it reads across the
    // stack it is drawn over (the dashed and dotted lines are the budget and the device).
    m_host->setPen(QPen(palette8(7).darker(160), 2.2));
    m_inUse = addGraph();
    m_inUse->setName(tr("in use on the device (nvidia-smi)"));
    m_limit = addGraph();
    m_limit->setName(tr("budget"));
    m_limit->setPen(QPen(QColor(200, 30, 30), 1.6, Qt::DashLine));
    m_total = addGraph();
    m_total->setName(tr("device total"));
    m_offScale = new QCPItemText(this);
    m_offScale->setPositionAlignment(Qt::AlignTop | Qt::AlignRight);
    m_offScale->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_offScale->position->setCoords(0.99, 0.02);
    m_offScale->setVisible(false);
    xAxis->setLabel(tr("time (s)"));
    yAxis->setLabel(tr("MiB"));
    placeLegendBeside();  // the stack fills the plot
    applyPalette();
    updateLines();
}

void MemoryChart::applyPalette() {
    LiveChart::applyPalette();
    m_total->setPen(QPen(palette().color(QPalette::WindowText), 1.4, Qt::DotLine));
    m_inUse->setPen(QPen(palette().color(QPalette::WindowText), 1.4, Qt::DashDotLine));
    m_offScale->setColor(QColor(200, 30, 30));
}

void MemoryChart::setBackend(const std::string& backend) {
    setTitle(backend == "cpu" ? tr("Memory by use") : tr("Device memory by use"));
    m_gpu = backend != "cpu";
    updateLines();
    markDirty();
}

int MemoryChart::hostPointCount() const { return m_host->dataCount(); }

QString MemoryChart::offScaleNote() const { return m_offScale->visible() ? m_offScale->text() : QString(); }

void MemoryChart::clear() {
    for (QCPGraph* g : m_layers) g->data()->clear();
    m_host->data()->clear();
    m_hostSeen = false;
    m_inUse->data()->clear();
    m_inUseSeen = false;
    m_times.clear();
    m_limitBytes = 0;
    m_peakMiB = 0;
    updateLines();
    markDirty();
}

void MemoryChart::addSample(const MemorySample& sample) {
    double sum = 0;
    std::size_t layer = 0;
    for (Usage u : kAllUsages) {
        if (!usage_on_device(u)) continue;
        sum += double(sample.memory.current_of(u)) / kMiB;
        m_layers[layer++]->addData(sample.time_s, sum);
    }
    const std::int64_t host = sample.memory.current_of(Usage::PagedHost);
    m_host->addData(sample.time_s, double(host) / kMiB);
    m_hostSeen = m_hostSeen || host > 0;
    if (sample.device_in_use > 0) {
        m_inUse->addData(sample.time_s, double(sample.device_in_use) / kMiB);
        m_inUseSeen = true;
    }
    m_peakMiB = std::max(m_peakMiB, double(sample.memory.device_peak) / kMiB);
    m_times.push_back(sample.time_s);
    m_limitBytes = sample.device_limit;
    updateLines();
    markDirty();
}

void MemoryChart::setDeviceTotal(std::int64_t bytes) {
    m_totalBytes = bytes;
    updateLines();
    markDirty();
}

// Horizontal lines across the time span seen so far.
void MemoryChart::updateLines() {
    const double t0 = m_times.isEmpty() ? 0 : m_times.front();
    const double t1 = m_times.isEmpty() ? 1 : std::max(m_times.back(), t0 + 1e-3);
    m_limit->data()->clear();
    m_total->data()->clear();
    if (m_limitBytes > 0 && m_limitBytes != m_totalBytes)
        m_limit->setData({t0, t1}, {double(m_limitBytes) / kMiB, double(m_limitBytes) / kMiB});
    if (m_totalBytes > 0) m_total->setData({t0, t1}, {double(m_totalBytes) / kMiB, double(m_totalBytes) / kMiB});
    // A run that never leaves the device (no paging, no offload) keeps the chart as it was.
    m_host->setVisible(m_hostSeen);
    if (m_hostSeen) m_host->addToLegend();
    else m_host->removeFromLegend();
    m_inUse->setVisible(m_gpu && m_inUseSeen);
    if (m_inUse->visible())
        m_inUse->addToLegend();
    else
        m_inUse->removeFromLegend();
    if (m_limit->data()->isEmpty()) m_limit->removeFromLegend();
    else m_limit->addToLegend();
    if (m_total->data()->isEmpty()) m_total->removeFromLegend();
    else m_total->addToLegend();
}

void MemoryChart::fitView() {
    LiveChart::fitView();
    double top = m_peakMiB;
    if (!m_layers.empty() && !m_layers.back()->data()->isEmpty()) {
        bool found = false;
        top = std::max(top, m_layers.back()->getValueRange(found).upper);
    }
    for (QCPGraph* g : {m_host, m_inUse}) {
        if (!g->visible() || g->data()->isEmpty()) continue;
        bool found = false;
        top = std::max(top, g->getValueRange(found).upper);
    }
    QStringList off;
    for (QCPGraph* g : {m_limit, m_total}) {
        if (g->data()->isEmpty()) continue;
        const double line = g->data()->constBegin()->value;
        if (top > 0 && line > kOffScaleRatio * top)
            off << tr("%1 %2 ↑").arg(g->name(), gib(line));
        else
            top = std::max(top, line);
    }
    m_offScale->setText(off.join("   "));
    m_offScale->setVisible(!off.isEmpty());
    yAxis->setRange(0, top > 0 ? top * 1.15 : 1.0);
}

}  // namespace qls::ui
