// Every row of the backend op test (STYLE.md §3). test_backend_ops.cpp runs them on the CPU
// backend; a CUDA test runs the same list on its own backend, row by row.
#pragma once
#include "backend_test_rows_attention.h"
#include "backend_test_rows_elementwise.h"
#include "backend_test_rows_linear.h"

namespace qls::test::ops {

inline std::vector<Row> all_rows() {
    std::vector<Row> rows = linear_rows();
    for (auto* more : {&attention_rows, &elementwise_rows})
        for (Row& r : more()) rows.push_back(std::move(r));
    return rows;
}

// One row on `backend`; the seed makes its random inputs reproducible.
inline Checker run_row(Backend& backend, const Row& row, std::uint64_t seed) {
    Checker check;
    Context ctx{backend, check, std::mt19937_64(seed)};
    row.run(ctx);
    return check;
}

}  // namespace qls::test::ops
