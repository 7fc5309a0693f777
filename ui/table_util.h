// Small tables (the memory table, a tensor's three variants) show all their rows and no
// empty space below them.
#pragma once

class QTableView;

namespace qls::ui {

void fitHeightToRows(QTableView* table);

}  // namespace qls::ui
