// Main flow step 6: a conversation with two answers side by side: the base model alone and the
// base with an adapter (a PEFT folder, or the newest checkpoint of a run, even while it trains),
// streamed token by token. The user's messages are shared; each side keeps its own replies as
// history. The prompt is the model's chat template (or the template the run trained with, or
// plain text) over an optional system prompt and the turns; "Show chat template" shows it and
// the exact next prompt. The generation runs in GenerationWorker, the conversation lives in
// PlaygroundChat; this page shows them and drives them.
#pragma once
#include <QWidget>

#include <optional>

#include "core/model/chat_prompt_builder.h"
#include "core/model/device_base_model.h"
#include "ui/generation_worker.h"
#include "ui/playground_chat.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTimer;

namespace qls::ui {

class ChatTemplateView;
class ChatTranscript;
class ModelSession;

class PlaygroundPage : public QWidget {
    Q_OBJECT
public:
    enum class AdapterMode { None, PeftFolder, RunLatestCheckpoint };

    explicit PlaygroundPage(ModelSession* session, QWidget* parent = nullptr);

    // `path`: the PEFT folder or the run folder; refreshes what will be loaded.
    void setAdapterSource(AdapterMode mode, const QString& path = {});
    // The message the next generate() sends.
    void setPrompt(const QString& text);
    void setSystemPrompt(const QString& text);
    QString systemPrompt() const;
    // nullopt: plain text. False when the model cannot use that formatting.
    bool setFormatting(ChatTemplateChoice choice);
    ChatTemplateChoice formatting() const;
    QString formattingNote() const;  // which formatting is used, and why
    void setSamplingOptions(const SamplingOptions& options);
    SamplingOptions samplingOptions() const;

    bool isGenerating() const { return m_worker.isRunning(); }
    int turnCount() const { return int(m_chat.turns().size()); }
    QString outputText(GenerationWorker::Side side) const;  // the last reply on that side
    QString conversationText(GenerationWorker::Side side) const;  // what its Copy button copies
    int tokenCount(GenerationWorker::Side side) const { return m_panels[side].tokens; }
    QString errorText(GenerationWorker::Side side) const;  // empty when that side succeeded
    QString adapterStatus() const;
    ChatTemplateView* templateView() const { return m_templateView; }
    GenerationWorker* worker() { return &m_worker; }

public slots:
    // Sends the message box's text as the next user message; both sides reply.
    void generate();
    // Both sides' last replies again, from the same history (with sampling, the next seed).
    void regenerate();
    void newConversation();
    void stop();
    void setTemplateShown(bool shown);
    // Looks again at the chosen folder: the newest checkpoint of a run, or the PEFT folder.
    void refreshAdapter();

signals:
    void generationStarted();
    void outputStreamed(qls::ui::GenerationWorker::Side side, int tokens);
    void generationFinished();

private:
    struct Panel {
        QGroupBox* box = nullptr;
        ChatTranscript* transcript = nullptr;
        QLabel* stats = nullptr;
        QLabel* error = nullptr;
        QPushButton* copy = nullptr;
        int tokens = 0;
    };
    static QLabel* makeErrorLabel(QWidget* parent, const QString& name);
    QWidget* buildAdapterBox();
    QWidget* buildChatBox();
    QWidget* buildSettingsBox();
    QWidget* buildComposer();
    QWidget* buildPanel(GenerationWorker::Side side, const QString& title);
    void chooseFolder();
    void onModelLoaded();
    void chooseDefaultFormatting();
    void applyFormatting();
    void startTurn(const QString& message, bool regenerate);
    std::optional<AdapterSource> adapterSource() const;
    void refreshTranscripts();
    void clearPanels();
    void schedulePreview();
    void updatePreview();
    void updateControls();
    void showPageError(const QString& message);
    BaseWeightsOptions baseOptions() const;
    void onTextStreamed(GenerationWorker::Side side, const QString& text, int tokens);
    void onSideFinished(GenerationWorker::Side side, const GenerationStats& stats);
    void onSideFailed(GenerationWorker::Side side, const QString& message);

    ModelSession* m_session;
    GenerationWorker m_worker;
    PlaygroundChat m_chat;
    std::optional<BaseWeightsOptions> m_runBase;  // the run's quantization, for its checkpoints
    std::optional<TemplateKind> m_trainedWith;    // the run's training template
    bool m_formattingChosen = false;              // by the user: kept across adapter changes
    QString m_defaultSystem;                      // the formatting's own, as last filled in
    Panel m_panels[2];
    QLabel* m_pageError;
    QComboBox* m_adapterMode;
    QLineEdit* m_adapterPath;
    QPushButton* m_browse;
    QPushButton* m_refresh;
    QLabel* m_adapterStatus;
    QComboBox* m_formatting;
    QLabel* m_formattingNote;
    QPlainTextEdit* m_system;
    QSpinBox* m_maxTokens;
    QDoubleSpinBox* m_temperature;
    QSpinBox* m_topK;
    QDoubleSpinBox* m_topP;
    QDoubleSpinBox* m_repetition;
    QSpinBox* m_seed;
    QPlainTextEdit* m_input;
    QPushButton* m_send;
    QPushButton* m_stop;
    QPushButton* m_regenerate;
    QPushButton* m_clear;
    QCheckBox* m_showTemplate;
    ChatTemplateView* m_templateView;
    QTimer* m_previewTimer;
};

}  // namespace qls::ui
