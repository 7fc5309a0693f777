// The inspector's per-layer table (core/inspect/quant_error_table) as a Qt item model: one row
// per linear weight, then the model-wide totals, which stay last under any sort order.
#pragma once
#include <QAbstractTableModel>
#include <QSortFilterProxyModel>

#include "core/inspect/quant_error_table.h"

namespace qls::ui {

class QuantTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    // Sorting uses this role: numbers as numbers, text as text.
    static constexpr int SortRole = Qt::UserRole + 1;
    static constexpr int TotalsRole = Qt::UserRole + 2;  // true on the totals row

    explicit QuantTableModel(QObject* parent = nullptr);
    void setTable(QuantErrorTable table);
    void clear();
    const QuantErrorTable& table() const { return m_table; }
    bool hasRows() const { return !m_table.rows.empty(); }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // The table as CSV (header, rows in model order, totals), numbers at full precision.
    QByteArray toCsv() const;

private:
    QuantErrorTable m_table;
};

class QuantTableProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit QuantTableProxy(QObject* parent = nullptr);

protected:
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;
};

}  // namespace qls::ui
