// Recently used datasets and run folders, kept in QSettings (models: ModelSession), and the
// File menu's submenus that list them.
#pragma once
#include <QString>
#include <QStringList>

#include <functional>

class QMenu;

namespace qls::ui {

// key: "recentDatasets" or "recentRuns"; the newest first, at most eight, no repeats.
QStringList recentFiles(const QString& key);
void addRecentFile(const QString& key, const QString& path);
void clearRecentFiles(const QString& key);

// Fills `menu` with the list; picking an entry calls `open` with its path.
void fillRecentMenu(QMenu* menu, const QString& key, const std::function<void(const QString&)>& open);

}  // namespace qls::ui
