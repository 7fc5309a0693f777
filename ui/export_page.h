// Main flow step 7: write what a run produced in the forms other tools load: a PEFT adapter
// folder (one click), and optionally the base merged with it (bf16 safetensors, or GGUF with an
// Ollama Modelfile) and a GGUF LoRA adapter. The writing runs in a BackgroundTask.
#pragma once
#include <QWidget>

#include <optional>

#include "core/train/train_config.h"
#include "ui/background_task.h"
#include "ui/export_job.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTreeWidget;

namespace qls::ui {

class ModelSession;

class ExportPage : public QWidget {
    Q_OBJECT
public:
    explicit ExportPage(ModelSession* session, QWidget* parent = nullptr);

    // A run folder: its final adapter (or newest checkpoint), its base model, and
    // <run>-export beside it as the destination (an export never writes into the run).
    void setRunFolder(const QString& runDir);
    // A bare PEFT folder; `baseModel` empty keeps the one shown (or the open model's).
    void setAdapterFolder(const QString& adapterDir, const QString& baseModel = {});
    void setDestination(const QString& dir);
    QString destination() const;
    void setOutputs(const ExportOutputs& outputs);
    ExportOutputs outputs() const;

    BackgroundTask* task() { return &m_task; }
    bool isExporting() const { return m_task.isRunning(); }
    // The last export's message, and the files it listed (relative to the destination).
    QString message() const;
    bool lastExportFailed() const { return m_failed; }
    QStringList writtenFiles() const;
    // Asked when a destination holds things that are not our export of that kind (the reason is
    // passed): true starts the export again, writing the export's files into it anyway (that
    // first round ends as failed, having written nothing). A dialog by default.
    void setReplaceQuestion(std::function<bool(const QString& reason)> ask) { m_askReplace = std::move(ask); }
    // Asked by Push to Hub for the repository (ORG/NAME; empty cancels). A dialog by default.
    void setRepoQuestion(std::function<QString(const QString& what)> ask) { m_askRepo = std::move(ask); }
    // What Push to Hub sends: the last export's folder when it succeeded, else the adapter.
    std::filesystem::path pushSource() const;

public slots:
    void startExport();
    // Uploads pushSource() to a Hugging Face repository the user names, in the background;
    // refuses without a token (HF_TOKEN or $HF_HOME/token). See core/hub/hub_upload.h.
    void pushToHub();
    void cancel() { m_task.cancel(); }

signals:
    void exportFinished(bool succeeded);  // after success, failure or cancel

private:
    QWidget* buildSource();
    QWidget* buildOutputs();
    QWidget* buildResult();
    void browse(QLineEdit* edit, bool folder, const QString& title);
    void refreshSource();
    void updateControls();
    void showMessage(const QString& html, bool failed);
    void showOutcome(const ExportOutcome& outcome);

    ModelSession* m_session;
    BackgroundTask m_task;
    std::optional<TrainConfig> m_run;  // the run's config when the source is a run
    std::filesystem::path m_adapterDir;  // the PEFT folder the source resolved to
    std::int64_t m_steps = 0;
    std::filesystem::path m_runDir;  // the run folder when the source is a run
    bool m_forceNext = false;        // the user agreed to replace: the next export writes with force
    std::function<bool(const QString&)> m_askReplace;
    std::function<QString(const QString&)> m_askRepo;
    QString m_sourceError;
    bool m_failed = false;
    QComboBox* m_sourceKind;
    QLineEdit* m_sourcePath;
    QLineEdit* m_modelPath;
    QLineEdit* m_destination;
    QLabel* m_sourceInfo;
    QCheckBox* m_peft;
    QCheckBox* m_merged;
    QCheckBox* m_gguf;
    QCheckBox* m_ggufLora;
    QCheckBox* m_axolotl;
    QComboBox* m_ggufType;
    QComboBox* m_mergeOnto;
    QPushButton* m_export;
    QPushButton* m_push;
    QPushButton* m_cancel;
    QProgressBar* m_progress;
    QLabel* m_phase;
    QLabel* m_message;
    QTreeWidget* m_files;
};

}  // namespace qls::ui
