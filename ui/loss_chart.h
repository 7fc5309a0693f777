// Training loss, raw and smoothed (a debiased exponential moving average, as TensorBoard
// smooths), with the validation loss as points; other runs' smoothed curves can be laid over
// it to compare (e.g. NF4 against FP4).
#pragma once
#include "ui/live_chart.h"
#include "ui/run_history.h"

namespace qls::ui {

class LossChart : public LiveChart {
    Q_OBJECT
public:
    explicit LossChart(QWidget* parent = nullptr);

    void clear();  // the current run only; overlays stay
    void addStep(const StepMetrics& s);
    void addEval(const EvalResult& r);
    void setRun(const RunHistory& run);  // replaces the current run's curves

    void addOverlay(const RunHistory& run);
    void clearOverlays();
    int overlayCount() const { return int(m_overlays.size()) / 2; }  // runs laid over

    QCPGraph* rawGraph() const { return m_raw; }
    QCPGraph* smoothGraph() const { return m_smooth; }
    QCPGraph* validGraph() const { return m_valid; }

    static constexpr double kSmoothing = 0.9;

private:
    QCPGraph* m_raw;
    QCPGraph* m_smooth;
    QCPGraph* m_valid;
    double m_ema = 0;
    int m_emaCount = 0;
    std::vector<QCPGraph*> m_overlays;  // a smoothed curve and validation points per run
};

}  // namespace qls::ui
