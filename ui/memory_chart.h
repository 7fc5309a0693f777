// Device memory over the run's time, stacked by what it holds (core/backend/usage.h: base
// weights, LoRA, gradients, optimizer state, activations, workspace), with the device's size
// or the simulated budget as a line. Host memory (paged-out optimizer state, offloaded layer
// inputs) is not the device's: a line of its own, not stacked, once there is any. On a GPU a
// third line is what the device counts as taken (nvidia-smi's figure), so the gap between the
// stack and it shows what no category accounts for: the CUDA context, allocator slack, other
// processes. A CPU run leaves it out: the process's resident set holds much more than tensors.
#pragma once
#include <QVector>

#include "core/train/train_events.h"
#include "ui/live_chart.h"

namespace qls::ui {

class MemoryChart : public LiveChart {
    Q_OBJECT
public:
    explicit MemoryChart(QWidget* parent = nullptr);

    void clear();
    void addSample(const MemorySample& sample);
    // The device's physical size (a CUDA device) as a second line; 0 hides it.
    void setDeviceTotal(std::int64_t bytes);
    // "Device memory" for a GPU run, "Memory" for a CPU run (backend "cpu" or "cuda").
    void setBackend(const std::string& backend);
    int sampleCount() const { return m_times.size(); }
    // Points of the host-memory line (Usage::PagedHost); it shows, and is in the legend, once
    // a sample had host bytes.
    int hostPointCount() const;
    bool showsHost() const { return m_hostSeen; }
    // Points of the in-use line; it shows once a GPU run's sample had a figure.
    int inUsePointCount() const { return m_inUse->dataCount(); }
    bool showsInUse() const { return m_inUse->visible(); }
    // The budget or device line when it lies far above the data: the axis follows the data and
    // this says where the line is (empty while the lines are on the scale).
    QString offScaleNote() const;

protected:
    void fitView() override;
    void applyPalette() override;

private:
    void updateLines();

    std::vector<QCPGraph*> m_layers;  // device usages, bottom first; each fills down to the one below
    QCPGraph* m_host;                 // Usage::PagedHost, on its own
    bool m_hostSeen = false;
    QCPGraph* m_inUse;  // MemorySample::device_in_use, GPU runs only
    bool m_inUseSeen = false, m_gpu = true;
    QCPGraph* m_limit;
    QCPGraph* m_total;
    QCPItemText* m_offScale;
    QVector<double> m_times;
    std::int64_t m_limitBytes = 0, m_totalBytes = 0;
    double m_peakMiB = 0;
};

}  // namespace qls::ui
