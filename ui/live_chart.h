// A QCustomPlot that grows while a run trains: data is appended cheaply and marked dirty, and
// the page's redraw timer calls refresh() at a capped rate (STYLE.md §5). Drag pans and the
// wheel zooms; after either the view stays where the user put it until resetView().
#pragma once
#include "ui/chart_style.h"

namespace qls::ui {

class LiveChart : public StyledPlot {
    Q_OBJECT
public:
    explicit LiveChart(const QString& title, QWidget* parent = nullptr);

    void markDirty() { m_dirty = true; }
    void setTitle(const QString& title);
    QString title() const;
    bool isDirty() const { return m_dirty; }
    // Rescales (unless the user moved the view) and queues a replot, when anything changed.
    void refresh();
    // Fits every series again and follows new data from now on.
    void resetView();
    bool following() const { return m_follow; }
    // Points drawn by the first graph, for tests and the "no data yet" hint.
    int pointCount() const;
    // The legend in a column right of the plot instead of over it (for plots that fill up).
    void placeLegendBeside();

protected:
    // Axis ranges after a rescale; subclasses keep zero on the y axis or pad it.
    virtual void fitView();
    void applyPalette() override;

private:
    void stopFollowing() { m_follow = false; }
    void markShortSeries();

    QCPTextElement* m_title;
    bool m_dirty = false;
    bool m_follow = true;
};

// A colour per series that reads on light and dark backgrounds (Okabe-Ito).
QColor palette8(int i);

}  // namespace qls::ui
