// Main flow step 3: every training setting of TrainConfig with its default and a tooltip,
// presets, the reason next to a refused value (TrainConfig::validate's message), run.json
// settings saved and loaded, and a live device-memory estimate for the loaded model.
#pragma once
#include <QWidget>

#include <QList>
#include <QPair>

#include "core/train/train_config.h"
#include "ui/hparams_presets.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
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
    void setConfig(const TrainConfig& c);
    void applyPreset(Preset p);
    // validate()'s reason for the settings shown, empty when they are possible.
    QString validationMessage() const { return m_message; }
    // The label next to a field that shows its reason ("micro_batch", "lora rank", "'lr'", ...).
    QLabel* reasonLabel(const QString& needle) const;

    // run.json (or its "config" object); the error text, empty on success.
    QString saveConfig(const QString& path) const;
    QString loadConfig(const QString& path);

    QSpinBox* microBatchBox() const { return m_microBatch; }
    QSpinBox* rankBox() const { return m_rank; }
    QLineEdit* learningRateEdit() const { return m_lr; }
    QLabel* estimateVerdict() const { return m_verdict; }

signals:
    void configChanged();
    void validityChanged(bool valid);
    void maxSeqLenChanged(int tokens);

private:
    QWidget* buildLora();
    QWidget* buildOptimizer();
    QWidget* buildSteps();
    QWidget* buildRun();
    QWidget* buildMemory();
    QWidget* buildEstimate();
    void addField(QFormLayout* form, const QString& label, QWidget* field, const QString& tip,
                  const QStringList& needles);
    void onChanged();
    void validate();
    void updateEstimate();
    void chooseSave();
    void chooseLoad();

    ModelSession* m_session;
    bool m_loading = false;  // setConfig fills widgets: one change signal at the end
    QString m_message;
    QList<QPair<QStringList, QLabel*>> m_reasons;  // needles in validate()'s messages -> label
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
    // memory
    QDoubleSpinBox* m_budgetMiB;
    QSpinBox* m_pageKiB;
    QDoubleSpinBox* m_deviceLimitGiB;
    QComboBox* m_device;
    QComboBox* m_computeDtype;
    QTableWidget* m_estimate;
    QLabel* m_verdict;
};

}  // namespace qls::ui
