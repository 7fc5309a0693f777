// One tensor's quantization error, measured for the inspector's charts: the three variants'
// statistics (with histograms and per-block errors) and how the blocks lie on the matrix.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "core/model/model_loader.h"
#include "core/quant/quant_error.h"

namespace qls::ui {

// Blocks run along the flattened row-major tensor. When a row holds a whole number of
// blocks, the map is rows x blocks-per-row and shows the matrix itself; otherwise blocks
// straddle rows and the map is a near-square grid in block order.
struct BlockGrid {
    std::int64_t blocks = 0;
    std::int64_t rows = 0, cols = 0;
    bool matrixLayout = false;
};
BlockGrid blockGrid(const Shape& shape, int blockSize);

struct TensorInspection {
    std::string name;
    Shape shape;
    int blockSize = 64;
    BlockGrid grid;
    std::array<QuantVariantStats, 3> variants;  // NF4, NF4+DQ, FP4
};

// The largest per-block error (MSE, or max |error| when !mse) over the three variants: the one
// colour scale their block maps share, so that switching between them compares like with like.
double blockErrorTop(const TensorInspection& t, bool mse);

// Heavy: quantizes the weight three ways. Throws qls::Error for a missing tensor, a weight
// stored pre-quantized (no originals to compare with) or a bad block size.
TensorInspection inspectTensor(const Model& model, const std::string& name, int blockSize);

}  // namespace qls::ui
