#include "ui/recent_files.h"

#include <QMenu>
#include <QSettings>

namespace qls::ui {

namespace {
constexpr int kMaxRecent = 8;
}

QStringList recentFiles(const QString& key) { return QSettings().value(key).toStringList(); }

void addRecentFile(const QString& key, const QString& path) {
    QStringList list = recentFiles(key);
    list.removeAll(path);
    list.prepend(path);
    while (list.size() > kMaxRecent) list.removeLast();
    QSettings().setValue(key, list);
}

void clearRecentFiles(const QString& key) { QSettings().remove(key); }

void fillRecentMenu(QMenu* menu, const QString& key, const std::function<void(const QString&)>& open) {
    menu->clear();
    const QStringList list = recentFiles(key);
    for (const QString& path : list) menu->addAction(path, menu, [open, path] { open(path); });
    if (list.isEmpty()) {
        menu->addAction(QObject::tr("(none yet)"))->setEnabled(false);
        return;
    }
    menu->addSeparator();
    menu->addAction(QObject::tr("Clear the list"), menu, [menu, key] {
        clearRecentFiles(key);
        fillRecentMenu(menu, key, {});
    });
}

}  // namespace qls::ui
