// Runs the playground's two generations, base and base + adapter, each on its own thread so
// both stream at once, and brings their tokens back to the UI thread as queued signals. The
// engines (reading one base between them, or the training run's) stay loaded between runs and
// are rebuilt only when the model or its quantization changes, or when a training run has put
// the same base on the device since; the adapter is read again on every run, so a run folder's
// newest checkpoint is picked up while it trains.
#pragma once
#include <QObject>
#include <QString>

#include <array>
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ui/generation_engine.h"

namespace qls::ui {

// Where the adapter side's adapter comes from.
struct AdapterSource {
    enum class Kind { PeftFolder, RunLatestCheckpoint };
    Kind kind = Kind::PeftFolder;
    std::filesystem::path path;
};

// What one run generates: each side's prompt (their conversations differ), the same sampling.
struct GenerationRequest {
    GenerationPrompt base, adapter;
    SamplingOptions sampling;
};

// How one side's generation ended.
struct GenerationStats {
    int tokens = 0;
    qint64 promptTokens = 0;
    double prefillSeconds = 0;
    double tokensPerSecond = 0;
    QString stopReason;    // "eos", "max_tokens", "cancelled"
    QString promptFormat;  // chat_template_choice_name: "model template", "ChatML", "plain", ...
    QString baseSharedWith;  // GenerationEngine::sharedWith
};

class GenerationWorker : public QObject {
    Q_OBJECT
public:
    enum Side { Base = 0, Adapter = 1 };
    Q_ENUM(Side)

    explicit GenerationWorker(QObject* parent = nullptr);
    ~GenerationWorker() override;  // stops both sides and joins their threads

    // Starts the base side, and the adapter side when `adapter` is set. Refused (false) while
    // a previous run is still going.
    bool start(std::shared_ptr<SharedModel> model, const BaseWeightsOptions& options,
               const GenerationRequest& request, const std::optional<AdapterSource>& adapter);
    // Both sides stop after their current token (or tensor, while loading).
    void stop();
    bool isRunning() const { return m_active > 0; }

signals:
    void statusChanged(qls::ui::GenerationWorker::Side side, const QString& status);
    // Which adapter the side loaded ("checkpoint step 40 of run demo").
    void adapterResolved(const QString& description);
    // New text (possibly empty while a character is incomplete) and the tokens generated so
    // far. At most one update per side is in flight, so a fast model cannot flood the UI.
    void textStreamed(qls::ui::GenerationWorker::Side side, const QString& text, int tokens);
    void sideFinished(qls::ui::GenerationWorker::Side side, const qls::ui::GenerationStats& stats);
    void sideFailed(qls::ui::GenerationWorker::Side side, const QString& message);
    // After both sides reported one of the two above.
    void finished();

private:
    struct Run {
        std::atomic<bool> stop{false};
        std::mutex mutex;
        std::string pending;       // guarded by mutex: text not yet delivered
        int tokens = 0;            // guarded by mutex
        bool flushQueued = false;  // guarded by mutex
        int delivered = 0;         // tokens already announced; UI thread only
        std::jthread thread;
    };
    void runSide(Side side, Run& run, BaseWeightsOptions options, GenerationPrompt prompt,
                 SamplingOptions sampling, std::optional<AdapterSource> adapter);
    std::optional<LoraAdapter> loadAdapter(const AdapterSource& source);
    bool onToken(Side side, Run& run, std::string_view piece);
    void postStatus(Side side, const QString& status);
    void flush(Side side);
    void sideDone(Side side);

    std::shared_ptr<SharedModel> m_model;
    // Touched by a side's thread only while it runs; the UI thread reads them between runs.
    std::array<std::unique_ptr<GenerationEngine>, 2> m_engines;
    std::array<std::unique_ptr<Run>, 2> m_runs;
    int m_active = 0;
};

}  // namespace qls::ui

Q_DECLARE_METATYPE(qls::ui::GenerationStats)
