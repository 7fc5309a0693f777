#include "ui/quant_table_model.h"

#include <QFont>

#include <cmath>

#include "ui/ui_format.h"

namespace qls::ui {

namespace {

enum Column {
    ColTensor, ColLayer, ColModule, ColShape, ColStored, ColBitsStored,
    ColNf4Mse, ColNf4Max, ColNf4Snr,
    ColDqMse, ColDqMax, ColDqSnr,
    ColFp4Mse, ColFp4Max, ColFp4Snr,
    ColBitsNf4, ColBitsDq, ColBitsFp4,
    ColCount
};

const char* const kHeaders[ColCount] = {
    "tensor", "layer", "module", "shape", "stored as", "bits/param stored",
    "NF4 MSE", "NF4 max", "NF4 SNR dB",
    "NF4+DQ MSE", "NF4+DQ max", "NF4+DQ SNR dB",
    "FP4 MSE", "FP4 max", "FP4 SNR dB",
    "bits/param NF4", "bits/param NF4+DQ", "bits/param FP4"};

QString shapeText(const Shape& s) {
    QStringList parts;
    for (auto d : s) parts << QString::number(d);
    return parts.join(QStringLiteral(" x "));
}

// Column c of a summary triple: MSE, max, SNR for each variant, then bits per variant.
double number(const QuantErrorSummary& nf4, const QuantErrorSummary& dq, const QuantErrorSummary& fp4,
              int c) {
    const QuantErrorSummary* s[3] = {&nf4, &dq, &fp4};
    if (c >= ColBitsNf4) return s[c - ColBitsNf4]->bits_per_param;
    const QuantErrorSummary& v = *s[(c - ColNf4Mse) / 3];
    switch ((c - ColNf4Mse) % 3) {
    case 0: return v.mse;
    case 1: return v.max_abs_error;
    default: return v.snr_db;
    }
}

QString display(double v, int c) {
    if (c >= ColBitsNf4) return formatNumber(v, 'f', 3);
    switch ((c - ColNf4Mse) % 3) {
    case 0: return formatNumber(v, 'e', 3);
    case 1: return formatNumber(v, 'f', 5);
    default: return formatNumber(v, 'f', 2);
    }
}

QString csvField(QString s) {
    if (s.contains(',') || s.contains('"')) s = '"' + s.replace('"', "\"\"") + '"';
    return s;
}

}  // namespace

QuantTableModel::QuantTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void QuantTableModel::setTable(QuantErrorTable table) {
    beginResetModel();
    m_table = std::move(table);
    endResetModel();
}

void QuantTableModel::clear() { setTable({}); }

int QuantTableModel::rowCount(const QModelIndex& parent) const {
    if (parent.isValid() || m_table.rows.empty()) return 0;
    return int(m_table.rows.size()) + 1;
}

int QuantTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColCount;
}

QVariant QuantTableModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid()) return {};
    const bool totals = index.row() == int(m_table.rows.size());
    const int c = index.column();
    if (role == TotalsRole) return totals;
    if (role == Qt::FontRole && totals) {
        QFont f;
        f.setBold(true);
        return f;
    }
    if (role == Qt::TextAlignmentRole)
        return c >= ColLayer && c != ColModule && c != ColStored ? QVariant(Qt::AlignRight | Qt::AlignVCenter)
                                                                 : QVariant();
    if (role != Qt::DisplayRole && role != SortRole && role != Qt::ToolTipRole) return {};
    if (c == ColBitsStored) {
        const double bits = totals ? m_table.total_stored_bits : m_table.rows[std::size_t(index.row())].stored_bits;
        return role == SortRole ? QVariant(bits) : QVariant(formatNumber(bits, 'f', 3));
    }
    if (c < ColNf4Mse) {
        if (totals) return c == ColTensor ? tr("all linear weights") : QVariant();
        const TensorQuantRow& r = m_table.rows[std::size_t(index.row())];
        switch (c) {
        case ColTensor: return QString::fromStdString(r.name);
        case ColLayer: return r.layer >= 0 ? QVariant(qlonglong(r.layer)) : QVariant();
        case ColModule: return QString::fromStdString(r.module);
        case ColStored: return QString::fromStdString(r.stored);
        default: return role == SortRole ? QVariant(qlonglong(numel(r.shape))) : QVariant(shapeText(r.shape));
        }
    }
    const double v = totals ? number(m_table.total_nf4, m_table.total_nf4_dq, m_table.total_fp4, c)
                            : [&] {
                                  const auto& r = m_table.rows[std::size_t(index.row())];
                                  return number(r.nf4, r.nf4_dq, r.fp4, c);
                              }();
    if (role == SortRole) return v;
    if (role == Qt::ToolTipRole) return formatNumber(v, 'g', 9);
    return display(v, c);
}

QVariant QuantTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole || section < 0 || section >= ColCount)
        return QAbstractTableModel::headerData(section, orientation, role);
    return tr(kHeaders[section]);
}

QByteArray QuantTableModel::toCsv() const {
    QStringList lines;
    QStringList header;
    for (const char* h : kHeaders) header << csvField(h);
    lines << header.join(',');
    auto numbers = [](const QuantErrorSummary& a, const QuantErrorSummary& b, const QuantErrorSummary& c) {
        QStringList out;
        for (int col = ColNf4Mse; col < ColCount; ++col) out << formatNumber(number(a, b, c, col), 'g', 9);
        return out;
    };
    for (const auto& r : m_table.rows) {
        QStringList f{csvField(QString::fromStdString(r.name)), r.layer >= 0 ? QString::number(r.layer) : QString(),
                      csvField(QString::fromStdString(r.module)), csvField(shapeText(r.shape)),
                      csvField(QString::fromStdString(r.stored)), formatNumber(r.stored_bits, 'g', 9)};
        lines << (f + numbers(r.nf4, r.nf4_dq, r.fp4)).join(',');
    }
    if (!m_table.rows.empty()) {
        QStringList f{QStringLiteral("all linear weights"), {}, {}, {}, {}, formatNumber(m_table.total_stored_bits, 'g', 9)};
        lines << (f + numbers(m_table.total_nf4, m_table.total_nf4_dq, m_table.total_fp4)).join(',');
    }
    return (lines.join('\n') + '\n').toUtf8();
}

QuantTableProxy::QuantTableProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(QuantTableModel::SortRole);
}

bool QuantTableProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const {
    const bool lt = left.data(QuantTableModel::TotalsRole).toBool();
    const bool rt = right.data(QuantTableModel::TotalsRole).toBool();
    // The view reverses the order for a descending sort; keep the totals row last either way.
    if (lt || rt) return sortOrder() == Qt::AscendingOrder ? rt && !lt : lt && !rt;
    return QSortFilterProxyModel::lessThan(left, right);
}

}  // namespace qls::ui
