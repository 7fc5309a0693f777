#include "ui/ui_format.h"

#include <cmath>

namespace qls::ui {

QString formatBytes(double bytes) {
    static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    double v = bytes;
    while (std::fabs(v) >= 1024.0 && unit < 4) {
        v /= 1024.0;
        ++unit;
    }
    if (unit == 0) return QStringLiteral("%1 B").arg(qint64(v));
    return QStringLiteral("%1 %2").arg(v, 0, 'f', std::fabs(v) < 10 ? 2 : 1).arg(kUnits[unit]);
}

QString formatCount(std::int64_t n) {
    const double v = double(n);
    if (v >= 1e9) return QStringLiteral("%1 B").arg(v / 1e9, 0, 'f', 2);
    if (v >= 1e6) return QStringLiteral("%1 M").arg(v / 1e6, 0, 'f', 1);
    if (v >= 1e3) return QStringLiteral("%1 K").arg(v / 1e3, 0, 'f', 1);
    return QString::number(n);
}

QString formatNumber(double v, char fmt, int precision) {
    if (std::isnan(v)) return QStringLiteral("nan");
    if (std::isinf(v)) return v > 0 ? QStringLiteral("inf") : QStringLiteral("-inf");
    return QString::number(v, fmt, precision);
}

}  // namespace qls::ui
