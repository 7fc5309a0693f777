// The Train page's run comparison: a column per run (the current one, then the overlaid ones in
// the loss chart's colours), rows of figures (core/train/run_comparison.h) with each row's best
// value highlighted, then the run.json settings that differ between the runs.
#pragma once
#include <QTableWidget>

#include "core/train/run_comparison.h"

namespace qls::ui {

class RunComparisonTable : public QTableWidget {
    Q_OBJECT
public:
    explicit RunComparisonTable(QWidget* parent = nullptr);

    // `colors`: the loss chart's colour of each run, in the comparison's order.
    void setComparison(const RunComparison& comparison, const QList<QColor>& colors);
    void clearComparison();
    // The first column a row marks as best, for tests: -1 when none.
    int bestColumn(int row) const;
};

}  // namespace qls::ui
