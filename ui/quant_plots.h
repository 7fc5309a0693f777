// The inspector's three charts of one tensor: where its block-normalized weights fall against
// the 4-bit levels, how the NF4 and FP4 errors are distributed, and where in the matrix the
// error sits.
#pragma once
#include "ui/chart_style.h"

#include <array>
#include <vector>

#include "core/quant/quant_error.h"
#include "ui/tensor_inspection.h"

namespace qls::ui {

// Histogram of x / absmax(block) over [-1, 1], with the 16 NF4 and 16 FP4 code values.
class WeightHistogramPlot : public StyledPlot {
    Q_OBJECT
public:
    explicit WeightHistogramPlot(QWidget* parent = nullptr);
    void setHistogram(const Histogram& h);
    void clearData();
    QCPBars* bars() const { return m_bars; }
    QCPGraph* levels(QuantType type) const { return type == QuantType::NF4 ? m_nf4 : m_fp4; }

protected:
    void applyPalette() override;

private:
    QCPBars* m_bars;
    QCPGraph* m_nf4;  // impulses at the 16 levels
    QCPGraph* m_fp4;
};

// The error histograms of the variants, overlaid as filled steps.
class ErrorHistogramPlot : public StyledPlot {
    Q_OBJECT
public:
    explicit ErrorHistogramPlot(QWidget* parent = nullptr);
    void setVariants(const std::array<QuantVariantStats, 3>& variants);
    void clearData();
    QCPGraph* curve(QuantType type) const { return type == QuantType::NF4 ? m_nf4 : m_fp4; }

private:
    QCPGraph* m_nf4;
    QCPGraph* m_fp4;
};

// Per-block error (MSE or max |error|) as a colour map.
class BlockErrorMapPlot : public StyledPlot {
    Q_OBJECT
public:
    explicit BlockErrorMapPlot(QWidget* parent = nullptr);
    // Colours span [0, top], given by the caller so that maps of different variants compare.
    void setBlocks(const std::vector<float>& values, const BlockGrid& grid, int blockSize,
                   const QString& metric, double top);
    void clearData();
    QCPColorMap* colorMap() const { return m_map; }

protected:
    void applyPalette() override;

private:
    QCPColorMap* m_map;
    QCPColorScale* m_scale;
};

}  // namespace qls::ui
