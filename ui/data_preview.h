// What the Data page shows of a prepared dataset, computed off the UI thread: statistics,
// issues, and the first examples rendered as the model sees them, each token coloured by
// whether the loss trains on it; plus the token-length histogram chart.
#pragma once
#include <QStringList>

#include <memory>
#include <vector>

#include "core/data/dataset.h"
#include "core/util/progress.h"
#include "ui/live_chart.h"

namespace qls {
struct Model;
}

namespace qls::ui {

struct DatasetView {
    DataForm form = DataForm::Auto;
    DatasetStats stats;
    std::vector<DataIssue> issues;
    QStringList previews;  // HTML, one per example shown
    QList<int> previewLines;  // each example's line in its file
    // Rows of the training examples one epoch feeds, without and with packing (make_rows): with
    // the micro-batch they give the run's length before it starts.
    std::size_t trainRows = 0, packedTrainRows = 0;
};

// Tokenizer of `model`, prepare_dataset, then HTML for up to `examples` training examples.
// Throws what prepare_dataset throws (Cancelled when progress says stop).
DatasetView prepareDatasetView(const DatasetOptions& options, const Model& model, const ProgressFn& progress,
                               int examples = 40);

// Token lengths before truncation, with the truncation point as a line.
class LengthHistogramChart : public LiveChart {
    Q_OBJECT
public:
    explicit LengthHistogramChart(QWidget* parent = nullptr);
    void setStats(const DatasetStats& stats);
    void clear();
    int barCount() const { return m_bars->dataCount(); }

protected:
    void fitView() override;  // from zero, the truncation line always in view

private:
    QCPBars* m_bars;
    QCPItemStraightLine* m_limit;
    QCPItemText* m_limitText;
    double m_limitValue = 0;
};

}  // namespace qls::ui
