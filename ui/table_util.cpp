#include "ui/table_util.h"

#include <QHeaderView>
#include <QScrollBar>
#include <QTableView>

namespace qls::ui {

void fitHeightToRows(QTableView* table) {
    // Before the first show the style is not applied yet: polish first, or the header and
    // rows measure smaller than they will be drawn.
    table->ensurePolished();
    table->horizontalHeader()->ensurePolished();
    table->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    table->verticalHeader()->setDefaultSectionSize(table->fontMetrics().height() + 8);
    int height = 2 * table->frameWidth() + table->verticalHeader()->length();
    if (!table->horizontalHeader()->isHidden()) height += table->horizontalHeader()->sizeHint().height();
    if (table->horizontalScrollBarPolicy() != Qt::ScrollBarAlwaysOff)
        height += table->horizontalScrollBar()->sizeHint().height();
    table->setFixedHeight(height);
}

}  // namespace qls::ui
