#include "ui/device_status.h"

#ifdef QLS_HAVE_CUDA
#include "kernels/device_info.h"
#endif

namespace qls::ui {

DeviceStatus queryDeviceStatus() {
    DeviceStatus s;
#ifdef QLS_HAVE_CUDA
    try {
        if (!qls::cuda::device_available()) return s;
        const auto info = qls::cuda::device_info(0);
        s.cuda = true;
        s.name = QString::fromStdString(info.name);
        s.totalBytes = info.total_bytes;
        s.freeBytes = info.free_bytes;
    } catch (const std::exception&) {
        return DeviceStatus{};  // a broken driver leaves the studio on the CPU
    }
#endif
    return s;
}

}  // namespace qls::ui
