#include "ui/model_session.h"

#include <QSettings>

#include "core/model/llama_tensors.h"
#include "core/util/resource_paths.h"

namespace qls::ui {

namespace {
constexpr int kMaxRecent = 8;

struct Loaded {
    std::shared_ptr<const Model> model;  // null for a config-only folder
    std::shared_ptr<const ModelLayout> layout;
    ModelReport report;
    std::vector<std::string> linear;
};
}  // namespace

ModelSession::ModelSession(QObject* parent) : QObject(parent), m_quant(QuantSettings::load()) {
    connect(&m_loader, &BackgroundTask::failed, this, [this](const QString& message) {
        emit loadFailed(m_pendingPath, message);
    });
}

void ModelSession::open(const QString& path) {
    m_pendingPath = path;
    m_pendingDemo = false;
    emit loadStarted(path);
    const std::filesystem::path fsPath = path.toStdString();
    m_loader.start(tr("Loading %1").arg(path), [this, fsPath](const ProgressFn&) -> BackgroundTask::Delivery {
        auto loaded = std::make_shared<Loaded>();
        InspectOptions options;
        options.error_table = false;  // the Inspect page measures errors with its own progress
        if (is_config_only_folder(fsPath)) {
            loaded->layout = std::make_shared<const ModelLayout>(open_model_layout(fsPath));
            loaded->report = inspect_config_only(*loaded->layout, options);
        } else {
            loaded->model = std::make_shared<const Model>(load_model(fsPath));
            loaded->layout = std::make_shared<const ModelLayout>(model_layout(*loaded->model));
            loaded->report = inspect_model(*loaded->model, options);
        }
        for (const auto& e : llama_expected_tensors(loaded->layout->config))
            if (e.linear) loaded->linear.push_back(e.name);
        return [this, loaded] {
            m_model = loaded->model;
            m_layout = loaded->layout;
            m_report = std::move(loaded->report);
            m_linearTensors = std::move(loaded->linear);
            m_isDemo = m_pendingDemo;
            addRecent(m_pendingPath);
            if (m_model)
                emit modelLoaded();
            else
                emit configOpened();
        };
    });
}

void ModelSession::openDemo() {
    try {
        open(QString::fromStdString(demo_model_dir().string()));
        m_pendingDemo = true;
    } catch (const Error& e) {
        emit loadFailed(tr("demo model"), QString::fromStdString(e.what()));
    }
}

QString ModelSession::displayName() const {
    if (!m_layout) return {};
    return m_isDemo ? tr("Demo model") : QString::fromStdString(m_report.name);
}

void ModelSession::setQuantSettings(const QuantSettings& settings) {
    if (settings == m_quant) return;
    m_quant = settings;
    m_quant.save();
    emit quantSettingsChanged();
}

QStringList ModelSession::recentModels() {
    return QSettings().value("recentModels").toStringList();
}

void ModelSession::clearRecentModels() {
    QSettings().remove("recentModels");
    emit recentModelsChanged();
}

void ModelSession::addRecent(const QString& path) {
    QStringList list = recentModels();
    list.removeAll(path);
    list.prepend(path);
    while (list.size() > kMaxRecent) list.removeLast();
    QSettings().setValue("recentModels", list);
    emit recentModelsChanged();
}

}  // namespace qls::ui
