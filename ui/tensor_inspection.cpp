#include "ui/tensor_inspection.h"

#include <algorithm>
#include <cmath>

#include "core/util/error.h"

namespace qls::ui {

BlockGrid blockGrid(const Shape& shape, int blockSize) {
    BlockGrid g;
    const std::int64_t n = numel(shape);
    g.blocks = (n + blockSize - 1) / blockSize;
    if (shape.size() == 2 && shape[1] % blockSize == 0) {
        g.matrixLayout = true;
        g.rows = shape[0];
        g.cols = shape[1] / blockSize;
        return g;
    }
    g.cols = std::max<std::int64_t>(1, std::int64_t(std::ceil(std::sqrt(double(g.blocks)))));
    g.rows = (g.blocks + g.cols - 1) / g.cols;
    return g;
}

double blockErrorTop(const TensorInspection& t, bool mse) {
    float top = 0.0f;
    for (const QuantVariantStats& v : t.variants)
        for (float e : mse ? v.stats.block_mse : v.stats.block_max_abs_error) top = std::max(top, e);
    return double(top);
}

TensorInspection inspectTensor(const Model& model, const std::string& name, int blockSize) {
    const Weight& w = model.weights.get(name);
    QLS_CHECK(DataError, !w.is_quantized(), "'", name,
              "' is stored pre-quantized by bitsandbytes; the original weights are not in the "
              "checkpoint, so there is nothing to measure the error against");
    TensorInspection t;
    t.name = name;
    t.shape = w.shape;
    t.blockSize = blockSize;
    t.grid = blockGrid(w.shape, blockSize);
    t.variants = with_context("while measuring '" + name + "'",
                              [&] { return compare_quant_variants(dense_values(w).view, blockSize); });
    return t;
}

}  // namespace qls::ui
