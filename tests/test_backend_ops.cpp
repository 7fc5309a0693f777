// The op-by-op test of the Backend interface (STYLE.md §3): every row of backend_test_rows.h
// (op × dtype × shape, forward against a double-precision reference, gradients against the
// reference's analytic gradient and central differences, guard bytes, untouched inputs) on
// the CPU backend. A backend with one fault planted at a time shows that the rows catch it.
#include <QtTest>
#include <set>

#include "backend_test_rows.h"
#include "core/backend/cpu/cpu_backend.h"
#include "delegating_backend.h"

using namespace qls;
namespace ops = qls::test::ops;

namespace {

const std::vector<ops::Row>& rows() {
    static const std::vector<ops::Row> all = ops::all_rows();
    return all;
}

std::uint64_t seed_of(std::size_t row) {
    return 0x5eed0000u + row;
}

enum class Fault { WriteAfterEnd, NanInOutput, TouchInput, IgnoreAccumulate, OtherDropoutMask };

// The CPU backend with one fault planted.
class FaultyBackend final : public test::DelegatingBackend {
public:
    explicit FaultyBackend(Fault fault) : m_fault(fault) {}
    std::string name() const override { return "faulty CPU"; }

protected:
    void linear_backward_impl(const LinearBackwardArgs& a) override {
        if (m_fault != Fault::OtherDropoutMask || a.lora.empty()) return m_cpu.linear_backward(a);
        std::vector<LoraPart> other(a.lora.begin(), a.lora.end());
        for (LoraPart& p : other) ++p.view.dropout_seed;
        LinearBackwardArgs b = a;
        b.lora = other;
        m_cpu.linear_backward(b);
    }
    void rmsnorm_forward_impl(const RmsNormForwardArgs& a) override {
        m_cpu.rmsnorm_forward(a);
        if (m_fault == Fault::TouchInput) a.x.ptr<float>()[0] += 1.0f;
    }
    void rmsnorm_backward_impl(const RmsNormBackwardArgs& a) override {
        RmsNormBackwardArgs b = a;
        if (m_fault == Fault::IgnoreAccumulate) b.dx_mode = GradMode::Overwrite;
        m_cpu.rmsnorm_backward(b);
    }
    void swiglu_forward_impl(const SwigluForwardArgs& a) override {
        m_cpu.swiglu_forward(a);
        if (m_fault == Fault::NanInOutput) a.out.ptr<float>()[a.out.numel() / 2] = NAN;
    }
    void add_inplace_impl(const Tensor& dst, const Tensor& src) override {
        m_cpu.add_inplace(dst, src);
        if (m_fault == Fault::WriteAfterEnd) dst.ptr<float>()[dst.numel()] = 0.0f;
    }

private:
    Fault m_fault;
};

}  // namespace

class TestBackendOps : public QObject {
    Q_OBJECT
private slots:
    void rowNamesAreUnique();
    void cpuRows_data();
    void cpuRows();
    void faultsAreCaught_data();
    void faultsAreCaught();
    void cleanupTestCase();

private:
    double m_worst_ratio = 0;
    std::string m_worst_row;
};

void TestBackendOps::rowNamesAreUnique() {
    std::set<std::string> names;
    for (const ops::Row& r : rows()) QVERIFY2(names.insert(r.name).second, r.name.c_str());
    QVERIFY(rows().size() > 100);
}

void TestBackendOps::cpuRows_data() {
    QTest::addColumn<int>("row");
    for (std::size_t i = 0; i < rows().size(); ++i)
        QTest::newRow(rows()[i].name.c_str()) << static_cast<int>(i);
}

void TestBackendOps::cpuRows() {
    QFETCH(int, row);
    const auto index = static_cast<std::size_t>(row);
    CpuBackend backend;
    const ops::Checker check = ops::run_row(backend, rows()[index], seed_of(index));
    if (check.worst_ratio() > m_worst_ratio) {
        m_worst_ratio = check.worst_ratio();
        m_worst_row = rows()[index].name;
    }
    QVERIFY2(check.ok(), check.report().c_str());
}

void TestBackendOps::faultsAreCaught_data() {
    QTest::addColumn<int>("fault");
    QTest::addColumn<QString>("row");
    QTest::addColumn<QString>("needle");
    QTest::newRow("write after end") << int(Fault::WriteAfterEnd) << "add_inplace/17"
                                     << "guard byte";
    QTest::newRow("NaN in output") << int(Fault::NanInOutput) << "swiglu/3x17"
                                   << "NaN at";
    QTest::newRow("input modified") << int(Fault::TouchInput) << "rmsnorm/f32/3x17/dx-acc"
                                    << "input modified";
    QTest::newRow("accumulate ignored") << int(Fault::IgnoreAccumulate) << "rmsnorm/f32/3x17/dx-acc"
                                        << "rmsnorm dx: NMSE";
    QTest::newRow("other dropout mask") << int(Fault::OtherDropoutMask) << "linear/dropout-mask"
                                        << "another mask";
    QTest::newRow("other dropout mask, general row")
        << int(Fault::OtherDropoutMask) << "linear/nf4-dq/17x129x3/lora-r2/dropout"
        << "dx: NMSE";
}

void TestBackendOps::faultsAreCaught() {
    QFETCH(int, fault);
    QFETCH(QString, row);
    QFETCH(QString, needle);
    const auto it = std::find_if(rows().begin(), rows().end(),
                                 [&](const ops::Row& r) { return r.name == row.toStdString(); });
    QVERIFY2(it != rows().end(), qPrintable(row));
    FaultyBackend backend(static_cast<Fault>(fault));
    const ops::Checker check =
        ops::run_row(backend, *it, seed_of(static_cast<std::size_t>(it - rows().begin())));
    QVERIFY2(!check.ok(), "the planted fault went unnoticed");
    QVERIFY2(check.report().find(needle.toStdString()) != std::string::npos, check.report().c_str());
}

void TestBackendOps::cleanupTestCase() {
    qInfo("worst NMSE / limit over the CPU rows: %.3g (%s)", m_worst_ratio, m_worst_row.c_str());
}

QTEST_GUILESS_MAIN(TestBackendOps)
#include "test_backend_ops.moc"
