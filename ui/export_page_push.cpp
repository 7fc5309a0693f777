// The Export page's Push to Hub: the upload runs in the page's BackgroundTask like an export.
#include <QInputDialog>
#include <QLabel>
#include <QProgressBar>
#include <QTreeWidget>

#include "core/hub/hub_upload.h"
#include "ui/export_page.h"

namespace qls::ui {

std::filesystem::path ExportPage::pushSource() const {
    const std::filesystem::path dest = destination().toStdString();
    std::error_code ec;
    if (!m_failed && m_files->topLevelItemCount() > 0 && std::filesystem::is_directory(dest, ec)) return dest;
    return m_adapterDir;
}

void ExportPage::pushToHub() {
    if (m_task.isRunning()) return;
    const std::filesystem::path source = pushSource();
    HubSettings settings;
    try {
        settings = hub_settings_from_environment();
    } catch (const Error& e) {
        showMessage(
            tr("<b style=\"color:#c62828\">Cannot push</b><br>%1").arg(QString(e.what()).toHtmlEscaped()),
            true);
        return;
    }
    if (!settings.token) {
        showMessage(
            tr("<b style=\"color:#c62828\">Cannot push</b><br>No Hugging Face token: set HF_TOKEN or log in "
               "with <code>huggingface-cli login</code> (a token with write access)."),
            true);
        return;
    }
    const QString what = QString::fromStdString(source.string());
    const QString repo =
        (m_askRepo
             ? m_askRepo(what)
             : QInputDialog::getText(
                   this, tr("Push to Hugging Face"),
                   tr("Upload %1 to the model repository (ORG/NAME); it is created if needed:").arg(what)))
            .trimmed();
    if (repo.isEmpty()) return;
    m_message->hide();
    m_failed = false;
    m_progress->setValue(0);
    m_task.start(tr("Pushing to the Hub"), [this, settings, source, repo](const ProgressFn& progress) {
        HubPushOptions o;
        o.repo_id = repo.toStdString();
        const auto files = hub_push_files(source);
        const HubPushResult r = push_to_hub(
            settings, o, files, [&](const std::string& file, std::uint64_t done, std::uint64_t total) {
                QMetaObject::invokeMethod(
                    this, [this, f = QString::fromStdString(file)] { m_phase->setText(f + "…"); },
                    Qt::QueuedConnection);
                return !progress || progress(done, total);
            });
        return BackgroundTask::Delivery([this, r, repo, count = files.size()] {
            const QString where =
                QString::fromStdString(r.commit_url.empty() ? r.commit_oid : r.commit_url).toHtmlEscaped();
            showMessage(tr("<b>Pushed</b> %1 files to %2 (%3 through LFS)<br>%4")
                            .arg(count)
                            .arg(repo.toHtmlEscaped())
                            .arg(r.lfs_files.size())
                            .arg(where),
                        false);
        });
    });
    updateControls();
}

}  // namespace qls::ui
