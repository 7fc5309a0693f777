// Main flow step 5: how much 4-bit quantization hurts. A tree of the model's linear weights,
// the selected tensor's charts, and the whole model's per-tensor error table.
#pragma once
#include <QWidget>

#include "ui/background_task.h"

class QLabel;
class QProgressBar;
class QPushButton;
class QTableView;
class QTreeWidget;

namespace qls::ui {

class ModelSession;
class QuantTableModel;
class QuantTableProxy;
class TensorDetailPanel;

class InspectPage : public QWidget {
    Q_OBJECT
public:
    explicit InspectPage(ModelSession* session, QWidget* parent = nullptr);

    // Measures every linear weight on a worker; a computation in flight is cancelled first.
    void computeTable();
    void cancelTable();
    bool tableReady() const;
    // Selects the tensor in the tree, which measures it; false when the model has no such weight.
    bool selectTensor(const QString& name);
    // Writes the table as CSV through QSaveFile; returns the error text, empty on success.
    QString exportCsv(const QString& path) const;

    QuantTableModel* tableModel() const { return m_model; }
    // The table as shown (sorted); the selected tensor's row is its current row.
    QTableView* tableView() const { return m_table; }
    TensorDetailPanel* detail() const { return m_detail; }
    BackgroundTask* tableTask() { return &m_tableTask; }

signals:
    void tableComputed();
    void tableFailed(const QString& message);

private:
    void onModelLoaded();
    void onQuantSettingsChanged();
    void onSelectionChanged();
    void populateTree();
    void highlightTableRow();
    void setTableIdle(const QString& status);
    void chooseExportPath();

    ModelSession* m_session;
    BackgroundTask m_tableTask;
    int m_tableBlockSize = 0;  // block size of the table shown, 0 when none
    QTreeWidget* m_tree;
    TensorDetailPanel* m_detail;
    QuantTableModel* m_model;
    QuantTableProxy* m_proxy;
    QTableView* m_table;
    QLabel* m_tableTitle;
    QLabel* m_tableStatus;
    QLabel* m_verdict;
    QProgressBar* m_progress;
    QPushButton* m_cancel;
    QPushButton* m_compute;
    QPushButton* m_export;
};

}  // namespace qls::ui
