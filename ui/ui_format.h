// Numbers as the studio shows them: byte sizes in binary units, parameter counts, errors.
#pragma once
#include <QString>

#include <cstdint>

namespace qls::ui {

QString formatBytes(double bytes);        // "512 B", "3.4 MiB", "12.62 GiB"
QString formatCount(std::int64_t n);       // "1.24 B", "124.4 M", "7.2 K", "512"
QString formatNumber(double v, char fmt, int precision);  // "inf" / "nan" spelled out

}  // namespace qls::ui
