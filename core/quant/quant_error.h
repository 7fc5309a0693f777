// Quantization error statistics for the inspector and `qlora inspect`: how far a 4-bit
// tensor's dequantized values (rounded to its dtype, as a model sees them) are from the
// original weights, per tensor and per block.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/quant/quantized_tensor.h"
#include "core/util/tensor_view.h"

namespace qls {

// counts.size() equal-width bins over [lo, hi]; values outside land in the end bins.
struct Histogram {
    double lo = 0.0;
    double hi = 0.0;
    std::vector<std::int64_t> counts;
};

struct HistogramSpec {
    int normalized_bins = 201;  // x / max|x| of its block, over [-1, 1]
    int error_bins = 201;       // (dequant - x) / max|x| of its block, over +-error_range
    double error_range = 0.25;  // NF4's largest half-gap is 0.139, FP4's 0.167
};

// B blocks
struct QuantErrorStats {
    std::int64_t numel = 0;
    double mse = 0.0;            // mean (dequant - x)^2
    double max_abs_error = 0.0;
    double snr_db = 0.0;         // 10 log10(sum x^2 / sum err^2); +inf when exact
    double bits_per_param = 0.0;  // see bits_per_param()
    std::vector<float> block_mse;            // (B)
    std::vector<float> block_max_abs_error;  // (B)
    Histogram normalized;
    Histogram error;
};

// quant_bits_per_param (core/quant/quant_storage.h) for q's size, block size and double quant.
double bits_per_param(const Quantized4bit& q);

// original must have q's shape and a float dtype. One parallel pass; the result does not
// depend on the thread count.
QuantErrorStats quant_error_stats(const TensorView& original, const Quantized4bit& q,
                                  const HistogramSpec& spec = {});

struct QuantVariantStats {
    std::string_view label;  // "NF4", "NF4+DQ", "FP4"
    QuantType type;
    bool double_quant;
    QuantErrorStats stats;
};

// The inspector's three columns for one tensor.
std::array<QuantVariantStats, 3> compare_quant_variants(const TensorView& original,
                                                        int blocksize = 64,
                                                        const HistogramSpec& spec = {});

}  // namespace qls
