// The inspector's per-layer table: for every linear weight of a model, the error NF4,
// NF4 + double quant and FP4 would introduce (MSE, max error, SNR, bits/param), plus totals
// over the whole model and a one-line verdict.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/model/model_loader.h"
#include "core/util/progress.h"
#include "core/util/tensor_view.h"

namespace qls {

struct QuantErrorSummary {
    double mse = 0.0;
    double max_abs_error = 0.0;
    double snr_db = 0.0;
    double bits_per_param = 0.0;
};

struct TensorQuantRow {
    std::string name;        // model.layers.3.mlp.down_proj.weight
    std::int64_t layer = -1;
    std::string module;      // "down_proj"
    Shape shape;
    // How the file stores it ("BF16", "Q4_K"), and its bits per parameter: a GGUF base kept in
    // its own blocks trains on exactly these weights, the errors below are measured from them.
    std::string stored;
    double stored_bits = 0.0;
    QuantErrorSummary nf4, nf4_dq, fp4;
};

struct QuantErrorTable {
    int blocksize = 64;
    std::vector<TensorQuantRow> rows;
    QuantErrorSummary total_nf4, total_nf4_dq, total_fp4;  // over all rows, numel-weighted
    double total_stored_bits = 0.0;                        // numel-weighted
    std::string verdict;  // one line for people
    std::string note;     // why the table is empty, when it is
};

// Quantizes every dense linear weight three ways (parallel inside each tensor). A model whose
// weights are stored pre-quantized has no originals to compare with: the table is empty and
// `note` says so. progress counts tensors.
QuantErrorTable quant_error_table(const Model& model, int blocksize = 64, const ProgressFn& progress = {});

}  // namespace qls
