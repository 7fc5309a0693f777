// What every studio test sets up first: QSettings in a scratch folder and a test application
// name, so a test never reads or writes the user's settings, runs or recent files.
#pragma once
#include <QCoreApplication>
#include <QSettings>
#include <QStandardPaths>

#include "tests/test_support.h"

namespace qls::test {

inline void isolate_settings(const ScratchDir& dir, const char* application) {
    QStandardPaths::setTestModeEnabled(true);
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, QString::fromStdString(dir.path().string()));
    QCoreApplication::setOrganizationName("qls-test");
    QCoreApplication::setApplicationName(application);
}

}  // namespace qls::test
