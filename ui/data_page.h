// Main flow step 2: the training data. Open a JSONL, JSON or CSV file, see the detected form
// and map its fields, choose the prompt template, preview examples as the model sees them
// (trained tokens coloured apart from masked ones), the token-length histogram, the invalid
// lines, and the train/validation split. Preparation runs in the background.
#pragma once
#include <QWidget>

#include <QMap>

#include "core/data/dataset.h"
#include "ui/background_task.h"
#include "ui/data_preview.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QTabWidget;
class QLabel;
class QLineEdit;
class QListWidget;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTextBrowser;
class QTimer;

namespace qls::ui {

class ModelSession;

class DataPage : public QWidget {
    Q_OBJECT
public:
    explicit DataPage(ModelSession* session, QWidget* parent = nullptr);

    void openDataset(const QString& path);
    void openDemoDataset();  // the pirate fortunes that ship with the demo model
    void setValidationFile(const QString& path);  // empty: split off the training file
    void setMaxSeqLen(int tokens);                // from the Hyperparameters page
    // Prepares the data now (a preparation in flight is dropped); needs a model for its tokenizer.
    void prepare();

    bool hasDataset() const { return !m_path.isEmpty(); }
    QString datasetPath() const { return m_path; }
    // Everything this page sets; max_seq_len as last set, packing is the Hyperparameters page's.
    DatasetOptions options() const;
    bool isPrepared() const { return m_prepared; }
    const DatasetView& view() const { return m_view; }

    BackgroundTask* task() { return &m_task; }
    QListWidget* issueList() const { return m_issues; }
    QTextBrowser* preview() const { return m_preview; }
    LengthHistogramChart* histogram() const { return m_histogram; }
    QLabel* statsLabel() const { return m_stats; }
    QLabel* validationLabel() const { return m_validLabel; }
    QString validationFile() const { return m_validPath; }
    // The Data page's summary of the counts, each named, adding up (rich text).
    static QString statsText(const DatasetStats& stats, bool validationFile);

signals:
    void datasetOpened(const QString& path);
    void prepared();
    void prepareFailed(const QString& message);

private:
    QWidget* buildSettings();
    QWidget* buildResults();
    void schedulePrepare();
    void onPrepared(DatasetView view);
    void showExample(int index);
    void updateMappingFields();
    void chooseDataset();
    void chooseValidation();
    void showValidationSource();

    ModelSession* m_session;
    BackgroundTask m_task;
    QTimer* m_debounce;
    QString m_path, m_validPath;
    int m_maxSeqLen = 512;
    bool m_prepared = false;
    DatasetView m_view;
    QLabel* m_pathLabel;
    QLabel* m_validLabel;
    QPushButton* m_clearValid;
    QTabWidget* m_resultTabs;  // the examples and the invalid records
    QComboBox* m_form;
    QMap<QString, QLineEdit*> m_fields;  // "instruction" -> its column name
    QComboBox* m_template;
    QCheckBox* m_trainOnInputs;
    QDoubleSpinBox* m_validFraction;
    QCheckBox* m_skipBad;
    QCheckBox* m_dropOverlong;
    QProgressBar* m_progress;
    QPushButton* m_cancel;
    QLabel* m_status;
    QLabel* m_stats;
    LengthHistogramChart* m_histogram;
    QSpinBox* m_example;
    QTextBrowser* m_preview;
    QListWidget* m_issues;
};

}  // namespace qls::ui
