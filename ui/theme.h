// The studio's colours: the desktop's own (the palette the platform gave at start), or a light
// or dark Fusion palette whatever the desktop uses. Kept in QSettings ("theme").
#pragma once
#include <QString>

namespace qls::ui {

enum class Theme { System, Light, Dark };

QString themeName(Theme t);       // "system", "light", "dark": the stored value
Theme parseTheme(const QString& name);  // unknown: System
Theme savedTheme();
// Applies `t` to the application (charts follow through their palette-change events) and stores it.
void applyTheme(Theme t);

}  // namespace qls::ui
