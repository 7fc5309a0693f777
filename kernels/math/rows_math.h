// Index math of kernels/rows.cu's row moves (Backend::gather_rows / scatter_rows): rows are
// copied in the widest unit (4, 2 or 1 bytes) that divides a row and keeps both tensors'
// pointers aligned, one thread per unit, 64-bit throughout.
#pragma once
#include <cstdint>

#include "kernels/math/host_device.h"

namespace qls::kmath {

QLS_HD int row_unit_bytes(std::uint64_t row_bytes, std::uintptr_t src, std::uintptr_t dst) {
    for (int k = 4; k > 1; k /= 2)
        if (row_bytes % k == 0 && src % k == 0 && dst % k == 0) return k;
    return 1;
}

struct RowMove {
    std::int64_t from, to;  // unit indices in src and dst
};

// Work item w of count·units: unit u of the i-th listed row. Gather: dst row i = src row
// rows[i]; scatter: dst row rows[i] = src row i.
QLS_HD RowMove row_move(std::int64_t w, std::int64_t units, const std::int32_t* rows, bool scatter) {
    const std::int64_t i = w / units, u = w % units, picked = rows[i];
    return {(scatter ? i : picked) * units + u, (scatter ? picked : i) * units + u};
}

}  // namespace qls::kmath
