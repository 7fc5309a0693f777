// Main flow step 1: open a base model and see what it is, how its weights would be stored
// and whether they fit. The user's quantization choice is made here.
#pragma once
#include <QWidget>

#include <QMap>

#include "ui/device_status.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QPushButton;
class QTableWidget;

namespace qls::ui {

class ModelSession;

class ModelPage : public QWidget {
    Q_OBJECT
public:
    explicit ModelPage(ModelSession* session, QWidget* parent = nullptr);

    void setDeviceStatus(const DeviceStatus& status);
    // The value label of a summary field ("architecture", "parameters", ...), for tests.
    QLabel* summaryLabel(const QString& key) const { return m_summary.value(key); }
    QTableWidget* memoryTable() const { return m_memory; }
    QLabel* configOnlyNote() const { return m_configOnly; }

signals:
    void openRequested();      // the Open… button's "Model folder…"
    void openGgufRequested();  // the Open… button's "GGUF file…"
    void openHubRequested();   // the Open… button's "Hugging Face model…"
    void demoRequested();

private:
    QWidget* buildSummary();
    QWidget* buildQuantization();
    QWidget* buildMemory();
    void addField(QFormLayout* form, const QString& key, const QString& label);
    void onLoadStarted(const QString& path);
    void onModelLoaded();
    void onLoadFailed(const QString& path, const QString& message);
    void fillSummary();
    void updateMemory();
    void readQuantWidgets();
    void writeQuantWidgets();

    ModelSession* m_session;
    DeviceStatus m_device;
    QMap<QString, QLabel*> m_summary;
    QLabel* m_heading;
    QLabel* m_subheading;
    QLabel* m_error;
    QLabel* m_configOnly;  // shown for a config-only model
    QPushButton* m_open;
    QPushButton* m_demo;
    QComboBox* m_quantType;
    QCheckBox* m_doubleQuant;
    QCheckBox* m_ggufBlocks = nullptr;
    QComboBox* m_blockSize;
    QComboBox* m_computeDtype;
    QCheckBox* m_useGpu;
    QDoubleSpinBox* m_budget;
    QComboBox* m_gpuPreset;
    QLabel* m_budgetNote;
    QTableWidget* m_memory;
};

}  // namespace qls::ui
