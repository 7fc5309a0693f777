#include "ui/model_session.h"

#include <QSettings>

#include "core/hub/hub_download.h"
#include "core/model/llama_tensors.h"
#include "core/util/resource_paths.h"

namespace qls::ui {

struct ModelSession::Loaded {
    std::shared_ptr<const Model> model;  // null for a config-only folder
    std::shared_ptr<const ModelLayout> layout;
    ModelReport report;
    std::vector<std::string> linear;
};

namespace {
constexpr int kMaxRecent = 8;

std::shared_ptr<ModelSession::Loaded> load(const std::filesystem::path& fsPath) {
    auto loaded = std::make_shared<ModelSession::Loaded>();
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
    return loaded;
}

}  // namespace

ModelSession::ModelSession(QObject* parent) : QObject(parent), m_quant(QuantSettings::load()) {
    connect(&m_loader, &BackgroundTask::failed, this, [this](const QString& message) {
        emit loadFailed(m_pendingPath, message);
    });
}

BackgroundTask::Delivery ModelSession::deliver(std::shared_ptr<Loaded> loaded, const QString& recentPath) {
    return [this, loaded, recentPath] {
        m_model = loaded->model;
        m_layout = loaded->layout;
        m_report = std::move(loaded->report);
        m_linearTensors = std::move(loaded->linear);
        m_isDemo = m_pendingDemo;
        addRecent(recentPath);
        if (m_model)
            emit modelLoaded();
        else
            emit configOpened();
    };
}

void ModelSession::open(const QString& path) {
    m_pendingPath = path;
    m_pendingDemo = false;
    emit loadStarted(path);
    const std::filesystem::path fsPath = path.toStdString();
    m_loader.start(tr("Loading %1").arg(path), [this, fsPath, path](const ProgressFn&) {
        return deliver(load(fsPath), path);
    });
}

void ModelSession::openFromHub(const QString& reference) {
    m_pendingPath = reference;
    m_pendingDemo = false;
    HubModelRef ref;
    HubSettings settings;
    try {
        ref = parse_hub_model_ref(reference.toStdString());
        settings = hub_settings_from_environment();
    } catch (const Error& e) {
        emit loadFailed(reference, QString::fromStdString(e.what()));
        return;
    }
    emit loadStarted(reference);
    m_loader.start(tr("Downloading %1").arg(QString::fromStdString(ref.repo_id)),
                   [this, ref, settings](const ProgressFn& progress) {
                       // The bar follows the file being fetched; the cache keeps every finished file.
                       const HubDownload d = download_from_hub(settings, ref, HubFetch::Model,
                                                               [&](const std::string&, std::uint64_t done, std::uint64_t total) {
                                                                   return !progress || progress(done, total);
                                                               });
                       auto loaded = load(d.snapshot);
                       loaded->report.name = ref.repo_id;  // the snapshot folder is named by its commit
                       return deliver(loaded, QString::fromStdString(d.snapshot.string()));
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
