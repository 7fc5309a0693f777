// Main flow step 3: every training setting of TrainConfig with its default and a tooltip,
// presets, the reason next to a refused value (TrainConfig::validate's message), run.json
// settings saved and loaded, and a live device-memory estimate for the open model (config-only
// too) with the largest micro-batch / sequence length that fits and the longest sequence with and
// without offloaded checkpoints.
#pragma once
#include <QWidget>

#include <QList>
#include <QPair>

#include "core/train/fit_search.h"
#include "core/train/run_budget.h"
#include "core/train/train_config.h"
#include "ui/hparams_presets.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QGridLayout;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QTimer;

namespace qls::ui {

class ModelSession;

class HparamsPage : public QWidget {
    Q_OBJECT
public:
    explicit HparamsPage(ModelSession* session, QWidget* parent = nullptr);

    // The page's settings over `base` (model, data files and run folder come from elsewhere).
    TrainConfig config(TrainConfig base = {}) const;
    // Shows `c`. `origin` names where it came from ("Demo run", "Defaults", a run.json) in the
    // preset box until the user edits a field; when it replaces different settings, Undo brings
    // those back. An empty origin is a silent fill (the settings a run was started with).
    void setConfig(const TrainConfig& c, const QString& origin = {});
    void applyPreset(Preset p);
    // The preset box's text: the preset or origin of the settings shown, or "Custom" once edited.
    QString originText() const;
    QPushButton* undoButton() const { return m_undo; }
    // Every problem of the settings shown, "Field: what is wrong" joined by "; ", empty when they
    // are possible.
    QString validationMessage() const { return m_message; }
    // The label next to a field that shows its problem, by run.json key ("micro_batch", "lora.r", ...).
    QLabel* reasonLabel(const QString& key) const;

    // run.json (or its "config" object); the error text, empty on success.
    QString saveConfig(const QString& path) const;
    QString loadConfig(const QString& path);

    QSpinBox* microBatchBox() const { return m_microBatch; }
    QSpinBox* rankBox() const { return m_rank; }
    QLineEdit* learningRateEdit() const { return m_lr; }
    QLabel* estimateVerdict() const { return m_verdict; }
    QPushButton* fitMicroBatchButton() const { return m_fitBatch; }
    QPushButton* fitSeqLenButton() const { return m_fitSeqLen; }
    QComboBox* offloadBox() const { return m_offload; }
    // "Longest sequence that fits: ..." under the verdict (core longest_seq); says to set a device
    // size while none is known.
    QLabel* longestSeqLabel() const { return m_longestSeq; }

signals:
    void configChanged();
    void validityChanged(bool valid);
    void maxSeqLenChanged(int tokens);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    void reflow(int columns);
    QWidget* buildLora();
    QWidget* buildOptimizer();
    QWidget* buildSteps();
    QWidget* buildRun();
    QWidget* buildMemory();
    QWidget* buildEstimate();
    // `keys`: the run.json keys whose problems show under this field.
    void addField(QFormLayout* form, const QString& label, QWidget* field, const QString& tip,
                  const QStringList& keys);
    void onChanged();
    void validate();
    // The run's estimate settings against `budget` (run_budget.h), asked once by the caller.
    EstimateOptions estimateOptions(const Backend& backend, const RunBudget& budget) const;
    void updateEstimate();
    // Offload needs checkpoints to move: without gradient checkpointing the box is disabled
    // (unless it holds the refused "on", which the user must be able to change).
    void updateOffloadBox();
    // The longest sequence that fits `o`'s device size, with and without offload, in m_longestSeq;
    // first, whether the estimate `e` shown offloads (so that "auto" says what it chose).
    void showLongestSeq(const EstimateOptions& o, const MemoryEstimate& e, const Backend& backend);
    // The offload box's tooltip: what it does, or why it cannot (no gradient checkpointing).
    static QString offloadTip(bool possible);
    void fitLargest(FitDimension dimension);
    void chooseSave();
    void chooseLoad();

    void setOrigin(int presetIndex, const QString& text);
    void undo();

    ModelSession* m_session;
    bool m_loading = false;  // setConfig fills widgets: one change signal at the end
    std::string m_originJson;  // the settings as their origin gave them: an edit makes them Custom
    QString m_originName;
    TrainConfig m_previous;  // what the last origin replaced, for Undo
    QPushButton* m_undo;
    QGridLayout* m_grid;
    QList<QWidget*> m_groups;  // the group boxes, in reading order
    int m_columns = 0;
    QString m_message;
    struct Reason {
        QStringList keys;  // run.json keys
        QLabel* label;     // shows their problems
        QString field;     // the field's name on the page
    };
    QList<Reason> m_reasons;
    QTimer* m_estimateTimer;
    QLabel* m_summary;
    QComboBox* m_preset;
    // LoRA
    QSpinBox* m_rank;
    QDoubleSpinBox* m_alpha;
    QDoubleSpinBox* m_dropout;
    QList<QCheckBox*> m_targets;
    QCheckBox* m_rslora;
    // optimizer
    QLineEdit* m_lr;
    QComboBox* m_schedule;
    QSpinBox* m_warmupSteps;
    QDoubleSpinBox* m_warmupRatio;
    QDoubleSpinBox* m_weightDecay;
    QDoubleSpinBox* m_maxGradNorm;
    QDoubleSpinBox* m_beta1;
    QDoubleSpinBox* m_beta2;
    QLineEdit* m_eps;
    // steps
    QDoubleSpinBox* m_epochs;
    QSpinBox* m_maxSteps;
    QSpinBox* m_microBatch;
    QSpinBox* m_gradAccum;
    QSpinBox* m_seqLen;
    QCheckBox* m_packing;
    // run
    QSpinBox* m_evalEvery;
    QSpinBox* m_saveEvery;
    QSpinBox* m_keep;
    QSpinBox* m_patience;
    QDoubleSpinBox* m_minDelta;
    QSpinBox* m_seed;
    QCheckBox* m_checkpointing;
    QComboBox* m_offload;
    // memory
    QDoubleSpinBox* m_budgetMiB;
    QSpinBox* m_pageKiB;
    QDoubleSpinBox* m_deviceLimitGiB;
    QComboBox* m_device;
    QComboBox* m_computeDtype;
    QTableWidget* m_estimate;
    QLabel* m_verdict;
    QLabel* m_longestSeq;
    QPushButton* m_fitBatch;
    QPushButton* m_fitSeqLen;
};

}  // namespace qls::ui
