// The model the studio has open: loads it off the UI thread, keeps it (shared with workers
// that still read its weights) and the user's quantization settings, and tells the pages.
#pragma once
#include <QObject>
#include <QStringList>

#include <memory>
#include <optional>

#include "core/inspect/model_report.h"
#include "core/model/model_layout.h"
#include "core/model/model_loader.h"
#include "ui/background_task.h"
#include "ui/quant_settings.h"

namespace qls::ui {

class ModelSession : public QObject {
    Q_OBJECT
public:
    explicit ModelSession(QObject* parent = nullptr);

    // Load a Hugging Face / bitsandbytes folder or a .gguf file; a load in flight is dropped. A
    // folder with only config.json (weights not downloaded) is described, not loaded: configOpened,
    // and hasModel() stays false so that nothing trains or generates with it.
    void open(const QString& path);
    // Download a Hugging Face model (ORG/NAME or its URL) into the Hugging Face cache in the
    // background, with progress, then open its snapshot folder; a cached model opens at once.
    void openFromHub(const QString& reference);
    void openDemo();

    bool hasModel() const { return m_model != nullptr; }
    std::shared_ptr<const Model> model() const { return m_model; }
    // What the memory estimate reads: the loaded model's, or the config-only model's.
    const ModelLayout* layout() const { return m_layout.get(); }
    bool isConfigOnly() const { return m_layout && m_layout->config_only; }
    // Summary, tokenizer and weight memory (no error table: the inspector computes that).
    const ModelReport& report() const { return m_report; }
    // The model's name for headings and the title bar; the demo model says so.
    QString displayName() const;
    // The linear weights in model order (the ones 4-bit quantization applies to).
    const std::vector<std::string>& linearTensors() const { return m_linearTensors; }
    BackgroundTask* loader() { return &m_loader; }

    const QuantSettings& quantSettings() const { return m_quant; }
    void setQuantSettings(const QuantSettings& settings);

    struct Loaded;  // a finished load, carried from the worker to the UI thread

    static QStringList recentModels();
    void clearRecentModels();

signals:
    void loadStarted(const QString& path);
    void modelLoaded();
    void configOpened();  // a config-only folder: report() and layout() describe it
    void loadFailed(const QString& path, const QString& message);
    void quantSettingsChanged();
    void recentModelsChanged();

private:
    // Hands a finished load to the UI thread and remembers recentPath among the recent models.
    BackgroundTask::Delivery deliver(std::shared_ptr<Loaded> loaded, const QString& recentPath);
    void addRecent(const QString& path);

    BackgroundTask m_loader;
    QString m_pendingPath;
    bool m_pendingDemo = false;
    bool m_isDemo = false;
    std::shared_ptr<const Model> m_model;
    std::shared_ptr<const ModelLayout> m_layout;
    ModelReport m_report;
    std::vector<std::string> m_linearTensors;
    QuantSettings m_quant;
};

}  // namespace qls::ui
