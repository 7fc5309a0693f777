#include "ui/run_comparison_table.h"

#include <QHeaderView>

#include <algorithm>

namespace qls::ui {

namespace {
constexpr int kBestRole = Qt::UserRole + 1;
// Translucent, so the highlight reads on a light and on a dark palette alike.
const QColor kBestBackground(46, 160, 67, 70);
}  // namespace

RunComparisonTable::RunComparisonTable(QWidget* parent) : QTableWidget(parent) {
    setObjectName("runComparison");
    setEditTriggers(QAbstractItemView::NoEditTriggers);
    setSelectionMode(QAbstractItemView::ContiguousSelection);  // copyable, not editable
    setWordWrap(false);
    setTextElideMode(Qt::ElideMiddle);  // long dataset paths keep their start and file name
    verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    horizontalHeader()->setStretchLastSection(false);
    setToolTip(tr("The current run and the overlaid runs side by side. Train loss: the mean of the last %1 "
                  "logged steps, as one step's loss is that of its own batch. Highlighted: the best value of a "
                  "row. Below the figures: the run.json settings whose values differ.")
                   .arg(kFinalLossSteps));
}

void RunComparisonTable::clearComparison() {
    clear();
    setRowCount(0);
    setColumnCount(0);
}

void RunComparisonTable::setComparison(const RunComparison& comparison, const QList<QColor>& colors) {
    const std::vector<ComparisonRow> rows = comparison_rows(comparison);
    clearComparison();
    setColumnCount(int(comparison.runs.size()));
    setRowCount(int(rows.size()));
    for (int c = 0; c < columnCount(); ++c) {
        const RunSummary& run = comparison.runs[std::size_t(c)];
        auto* header = new QTableWidgetItem(QString::fromStdString(run.name));
        header->setToolTip(QString::fromStdString(run.dir.string()));
        if (c < colors.size()) header->setForeground(colors[c]);
        setHorizontalHeaderItem(c, header);
    }
    QFont bold = font();
    bold.setBold(true);
    for (int r = 0; r < rowCount(); ++r) {
        const ComparisonRow& row = rows[std::size_t(r)];
        auto* label = new QTableWidgetItem(QString::fromStdString(row.label));
        if (row.setting) label->setToolTip(tr("run.json setting %1: not the same in every run").arg(label->text()));
        setVerticalHeaderItem(r, label);
        for (int c = 0; c < columnCount(); ++c) {
            auto* item = new QTableWidgetItem(QString::fromStdString(row.cells[std::size_t(c)]));
            item->setToolTip(item->text());
            item->setTextAlignment(row.setting ? Qt::AlignLeft | Qt::AlignVCenter : Qt::AlignRight | Qt::AlignVCenter);
            const bool best = std::ranges::find(row.best, std::size_t(c)) != row.best.end();
            item->setData(kBestRole, best);
            if (best) {
                item->setFont(bold);
                item->setBackground(kBestBackground);
            }
            setItem(r, c, item);
        }
    }
    resizeColumnsToContents();
    // A long setting (a path) would push the other runs out of view: cap a column, the tooltip
    // and the elided middle keep it readable.
    const int cap = fontMetrics().horizontalAdvance(QLatin1Char('0')) * 22;
    for (int c = 0; c < columnCount(); ++c) setColumnWidth(c, std::min(columnWidth(c), cap));
}

int RunComparisonTable::bestColumn(int row) const {
    for (int c = 0; c < columnCount(); ++c)
        if (const QTableWidgetItem* i = item(row, c); i && i->data(kBestRole).toBool()) return c;
    return -1;
}

}  // namespace qls::ui
