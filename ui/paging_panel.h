// The paged optimizer's moves: bytes sent to the device (up) and back to the host (down) as
// bars over the run's time, with a tooltip naming the move, and a table of every move.
#pragma once
#include <QWidget>

#include <vector>

#include "core/train/train_events.h"
#include "ui/live_chart.h"

class QLabel;
class QTableWidget;

namespace qls::ui {

class PagingChart : public LiveChart {
    Q_OBJECT
public:
    explicit PagingChart(QWidget* parent = nullptr);

    void clear();
    void addEvent(const PagingEvent& e);
    int eventCount() const { return int(m_events.size()); }

protected:
    void fitView() override;

private:
    void showTip(QMouseEvent* event);

    QCPBars* m_toDevice;
    QCPBars* m_toHost;
    std::vector<PagingEvent> m_events;
};

class PagingPanel : public QWidget {
    Q_OBJECT
public:
    explicit PagingPanel(QWidget* parent = nullptr);

    void clear();
    void addEvent(const PagingEvent& e);
    PagingChart* chart() const { return m_chart; }
    QTableWidget* table() const { return m_table; }

    static constexpr int kMaxRows = 2000;  // the newest moves; the chart keeps all

private:
    PagingChart* m_chart;
    QTableWidget* m_table;
    QLabel* m_summary;
    std::int64_t m_bytesIn = 0, m_bytesOut = 0, m_moves = 0;
};

}  // namespace qls::ui
