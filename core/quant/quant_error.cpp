// Error statistics of bitsandbytes-format 4-bit tensors (formats.md §1.3 dequantization).
#include "core/quant/quant_error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

#include "core/quant/dequantize_4bit.h"
#include "core/quant/quant_storage.h"
#include "core/quant/quantize_4bit.h"
#include "core/util/error.h"
#include "core/util/half.h"
#include "core/util/parallel.h"

namespace qls {
namespace {

Histogram make_histogram(double lo, double hi, int bins) {
    QLS_CHECK(ConfigError, bins > 0, "histogram: ", bins, " bins");
    return Histogram{lo, hi, std::vector<std::int64_t>(static_cast<std::size_t>(bins), 0)};
}

std::size_t bin_of(const Histogram& h, double v) {
    const double pos = (v - h.lo) / (h.hi - h.lo) * static_cast<double>(h.counts.size());
    const double clamped = std::clamp(pos, 0.0, static_cast<double>(h.counts.size() - 1));
    return std::isnan(pos) ? h.counts.size() / 2 : static_cast<std::size_t>(clamped);
}

// What the model computes with: the fp32 product rounded to the tensor's dtype.
float round_to_dtype(float v, DType dtype) {
    if (dtype == DType::BF16) return bf16_to_f32(f32_to_bf16(v));
    if (dtype == DType::F16) return f16_to_f32(f32_to_f16(v));
    return v;
}

struct BlockSums {
    double sum_x2 = 0.0;
    double sum_e2 = 0.0;
};

}  // namespace

double bits_per_param(const Quantized4bit& q) {
    return quant_bits_per_param(q.numel(), q.blocksize, q.nested.has_value());
}

QuantErrorStats quant_error_stats(const TensorView& original, const Quantized4bit& q,
                                  const HistogramSpec& spec) {
    QLS_CHECK(DataError, original.shape == q.shape, "quant_error_stats: original shape ",
              original.shape, " vs quantized ", q.shape);
    const std::vector<float> absmax = dequantize_absmax(q);
    const std::vector<float> x = to_f32(original);
    std::array<float, 16> values = q.quant_map;
    if (q.type == QuantType::FP4)
        for (std::size_t c = 8; c < 16; ++c) values[c] = -values[c - 8];

    QuantErrorStats st;
    st.numel = q.numel();
    st.bits_per_param = bits_per_param(q);
    st.normalized = make_histogram(-1.0, 1.0, spec.normalized_bins);
    st.error = make_histogram(-spec.error_range, spec.error_range, spec.error_bins);
    st.block_mse.resize(absmax.size());
    st.block_max_abs_error.resize(absmax.size());
    std::vector<BlockSums> sums(absmax.size());
    std::mutex merge_mutex;
    const std::size_t bs = static_cast<std::size_t>(q.blocksize);

    parallel_for(absmax.size(), std::max<std::size_t>(1, 16384 / bs),
                 [&](std::size_t first, std::size_t last) {
        Histogram normalized = make_histogram(st.normalized.lo, st.normalized.hi,
                                              spec.normalized_bins);
        Histogram error = make_histogram(st.error.lo, st.error.hi, spec.error_bins);
        double chunk_max = 0.0;
        for (std::size_t b = first; b < last; ++b) {
            const std::size_t begin = b * bs, end = std::min(x.size(), begin + bs);
            float block_max = 0.0f;
            for (std::size_t i = begin; i < end; ++i) block_max = std::max(block_max, std::fabs(x[i]));
            const double scale = block_max > 0.0f ? 1.0 / block_max : 0.0;
            BlockSums s;
            double max_err = 0.0;
            for (std::size_t i = begin; i < end; ++i) {
                const int code = i % 2 == 0 ? q.packed[i / 2] >> 4 : q.packed[i / 2] & 15;
                const float deq = round_to_dtype(values[static_cast<std::size_t>(code)] * absmax[b], q.dtype);
                const double err = static_cast<double>(deq) - static_cast<double>(x[i]);
                s.sum_x2 += static_cast<double>(x[i]) * x[i];
                s.sum_e2 += err * err;
                max_err = std::max(max_err, std::fabs(err));
                ++normalized.counts[bin_of(normalized, x[i] * scale)];
                ++error.counts[bin_of(error, err * scale)];
            }
            sums[b] = s;
            st.block_mse[b] = static_cast<float>(s.sum_e2 / static_cast<double>(end - begin));
            st.block_max_abs_error[b] = static_cast<float>(max_err);
            chunk_max = std::max(chunk_max, max_err);
        }
        // Integer counts and a max merge the same in any order, so this stays deterministic.
        const std::lock_guard lock(merge_mutex);
        for (std::size_t i = 0; i < normalized.counts.size(); ++i)
            st.normalized.counts[i] += normalized.counts[i];
        for (std::size_t i = 0; i < error.counts.size(); ++i) st.error.counts[i] += error.counts[i];
        st.max_abs_error = std::max(st.max_abs_error, chunk_max);
    });

    BlockSums total;  // summed in block order, independent of how blocks were split
    for (const BlockSums& s : sums) {
        total.sum_x2 += s.sum_x2;
        total.sum_e2 += s.sum_e2;
    }
    st.mse = total.sum_e2 / static_cast<double>(st.numel);
    st.snr_db = total.sum_e2 > 0.0 ? 10.0 * std::log10(total.sum_x2 / total.sum_e2)
                                   : std::numeric_limits<double>::infinity();
    return st;
}

std::array<QuantVariantStats, 3> compare_quant_variants(const TensorView& original,
                                                        int blocksize, const HistogramSpec& spec) {
    std::array<QuantVariantStats, 3> out{{{"NF4", QuantType::NF4, false, {}},
                                          {"NF4+DQ", QuantType::NF4, true, {}},
                                          {"FP4", QuantType::FP4, false, {}}}};
    for (QuantVariantStats& v : out)
        v.stats = quant_error_stats(
            original, quantize_4bit(original, v.type, blocksize, v.double_quant), spec);
    return out;
}

}  // namespace qls
