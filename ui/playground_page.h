// Main flow step 6: one prompt, two answers side by side: the base model alone and the base
// with an adapter (a PEFT folder, or the newest checkpoint of a run, even while it trains),
// streamed token by token. The generation runs in GenerationWorker; this page only shows it.
#pragma once
#include <QWidget>

#include <optional>

#include "core/model/device_base_model.h"
#include "ui/generation_worker.h"

class QComboBox;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

namespace qls::ui {

class ModelSession;

class PlaygroundPage : public QWidget {
    Q_OBJECT
public:
    enum class AdapterMode { None, PeftFolder, RunLatestCheckpoint };

    explicit PlaygroundPage(ModelSession* session, QWidget* parent = nullptr);

    // `path`: the PEFT folder or the run folder; refreshes what will be loaded.
    void setAdapterSource(AdapterMode mode, const QString& path = {});
    void setPrompt(const QString& text, PromptMode mode = PromptMode::Chat);
    void setSamplingOptions(const SamplingOptions& options);
    SamplingOptions samplingOptions() const;

    bool isGenerating() const { return m_worker.isRunning(); }
    QString outputText(GenerationWorker::Side side) const;
    int tokenCount(GenerationWorker::Side side) const { return m_panels[side].tokens; }
    QString errorText(GenerationWorker::Side side) const;  // empty when that side succeeded
    QString adapterStatus() const;
    GenerationWorker* worker() { return &m_worker; }

public slots:
    void generate();
    void stop();
    // Looks again at the chosen folder: the newest checkpoint of a run, or the PEFT folder.
    void refreshAdapter();

signals:
    void generationStarted();
    void outputStreamed(qls::ui::GenerationWorker::Side side, int tokens);
    void generationFinished();

private:
    struct Panel {
        QGroupBox* box = nullptr;
        QPlainTextEdit* text = nullptr;
        QLabel* stats = nullptr;
        QLabel* error = nullptr;
        int tokens = 0;
    };
    QWidget* buildAdapterBox();
    QWidget* buildSettingsBox();
    QWidget* buildPromptBox();
    QWidget* buildPanel(GenerationWorker::Side side, const QString& title);
    void chooseFolder();
    void updateControls();
    void showPageError(const QString& message);
    BaseWeightsOptions baseOptions() const;
    void onTextStreamed(GenerationWorker::Side side, const QString& text, int tokens);
    void onSideFinished(GenerationWorker::Side side, const GenerationStats& stats);
    void onSideFailed(GenerationWorker::Side side, const QString& message);

    ModelSession* m_session;
    GenerationWorker m_worker;
    std::optional<BaseWeightsOptions> m_runBase;  // the run's quantization, for its checkpoints
    Panel m_panels[2];
    QLabel* m_pageError;
    QComboBox* m_adapterMode;
    QLineEdit* m_adapterPath;
    QPushButton* m_browse;
    QPushButton* m_refresh;
    QLabel* m_adapterStatus;
    QPlainTextEdit* m_prompt;
    QComboBox* m_promptMode;
    QSpinBox* m_maxTokens;
    QDoubleSpinBox* m_temperature;
    QSpinBox* m_topK;
    QDoubleSpinBox* m_topP;
    QDoubleSpinBox* m_repetition;
    QSpinBox* m_seed;
    QPushButton* m_generate;
    QPushButton* m_stop;
};

}  // namespace qls::ui
