// What the status bar and the memory verdict need to know about the GPU, if any.
#pragma once
#include <QString>

#include <cstdint>

namespace qls::ui {

struct DeviceStatus {
    bool cuda = false;
    QString name = QStringLiteral("CPU");  // the CUDA device's name, or "CPU"
    std::uint64_t totalBytes = 0;
    std::uint64_t freeBytes = 0;
};

// Asks the CUDA runtime (in a CUDA build) about device 0; "CPU" otherwise or on any error.
// The first call may take a moment while the driver starts: call it off the UI thread.
DeviceStatus queryDeviceStatus();

}  // namespace qls::ui
