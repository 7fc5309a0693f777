// The upper half of the Inspect page: one tensor's charts and its three variants' figures,
// measured in the background whenever the selection or the block size changes.
#pragma once
#include <QWidget>

#include <memory>
#include <optional>
#include <string>

#include "ui/background_task.h"
#include "ui/tensor_inspection.h"

class QComboBox;
class QLabel;
class QTableWidget;
class QCustomPlot;

namespace qls::ui {

class WeightHistogramPlot;
class ErrorHistogramPlot;
class BlockErrorMapPlot;

class TensorDetailPanel : public QWidget {
    Q_OBJECT
public:
    explicit TensorDetailPanel(QWidget* parent = nullptr);

    void showTensor(std::shared_ptr<const Model> model, const std::string& name, int blockSize);
    void clear();
    bool hasResult() const { return m_result.has_value(); }
    const std::optional<TensorInspection>& result() const { return m_result; }
    BackgroundTask* task() { return &m_task; }

signals:
    void tensorShown(const QString& name);
    void tensorFailed(const QString& message);

private:
    QWidget* chartBox(const QString& title, QCustomPlot* plot, QWidget* extra = nullptr);
    void showResult();
    void updateMap();
    void savePng(QCustomPlot* plot, const QString& suggestedName);

    BackgroundTask m_task;
    std::optional<TensorInspection> m_result;
    QLabel* m_title;
    QLabel* m_message;
    WeightHistogramPlot* m_weights;
    ErrorHistogramPlot* m_errors;
    BlockErrorMapPlot* m_map;
    QComboBox* m_mapVariant;
    QComboBox* m_mapMetric;
    QTableWidget* m_figures;
};

}  // namespace qls::ui
