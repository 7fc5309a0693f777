// The CUDA backend against the same op table as the CPU (backend_test_rows.h: every op × dtype
// × shape, forward against a double-precision reference, gradients against the analytic
// gradient and central differences, guard bytes around every tensor, inputs unchanged), with
// the same NMSE limits: those come from the dtype's precision and the op's conditioning
// (backend_test_rows_*.h say which), not from the CPU, so a device that sums in another order
// meets them too. Without a GPU the rows skip; the registry checks run everywhere.
#include <QtTest>

#include "backend_test_rows.h"
#include "core/backend/backend_registry.h"
#include "kernels/cuda_backend.h"
#include "kernels/device_info.h"

using namespace qls;
namespace ops = qls::test::ops;

namespace {

const std::vector<ops::Row>& rows() {
    static const std::vector<ops::Row> all = ops::all_rows();
    return all;
}

}  // namespace

class TestCudaBackendOps : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { cuda::register_cuda_backend(); }

    // What the device menu, --device and auto say, with and without a GPU.
    void registryOffersTheGpu() {
        const bool gpu = cuda::device_available();
        const AutoDevice chosen = auto_device();
        bool listed = false;
        for (const DeviceOption& o : device_options()) listed |= o.spec == "cuda:0";
        QCOMPARE(listed, gpu);
        if (!gpu) {
            QCOMPARE(chosen.reason, std::string("no CUDA device found"));
            QVERIFY_THROWS_EXCEPTION(ConfigError, make_backend(parse_device("cuda")));
            QCOMPARE(make_backend(parse_device("auto")).kind, std::string("cpu"));
            return;
        }
        const BackendChoice c = make_backend(parse_device("auto"));
        QCOMPARE(c.kind, std::string("cuda"));
        const cuda::DeviceInfo info = cuda::device_info(0);
        QCOMPARE(c.backend->preferred_compute_dtype(), info.major >= 8 ? DType::BF16 : DType::F16);
        QVERIFY_THROWS_EXCEPTION(ConfigError, make_backend(parse_device("cuda:99")));
    }

    void cudaRows_data() {
        QTest::addColumn<int>("row");
        for (std::size_t i = 0; i < rows().size(); ++i)
            QTest::newRow(rows()[i].name.c_str()) << static_cast<int>(i);
    }

    void cudaRows() {
        if (!cuda::device_available()) QSKIP("no CUDA device");
        QFETCH(int, row);
        const auto index = static_cast<std::size_t>(row);
        if (!m_backend) m_backend = std::make_unique<cuda::CudaBackend>(0);
        // The seeds of test_backend_ops, so a row's inputs are the CPU run's.
        const ops::Checker check = ops::run_row(*m_backend, rows()[index], 0x5eed0000u + index);
        if (check.worst_ratio() > m_worst_ratio) {
            m_worst_ratio = check.worst_ratio();
            m_worst_row = rows()[index].name;
        }
        QVERIFY2(check.ok(), check.report().c_str());
        // A fault of an asynchronous kernel surfaces at its own row, not the next one.
        m_backend->synchronize();
    }

    void cleanupTestCase() {
        if (m_backend)
            qInfo("worst NMSE / limit over the CUDA rows: %.3g (%s) on %s", m_worst_ratio, m_worst_row.c_str(),
                  m_backend->name().c_str());
    }

private:
    std::unique_ptr<cuda::CudaBackend> m_backend;
    double m_worst_ratio = 0;
    std::string m_worst_row;
};

QTEST_GUILESS_MAIN(TestCudaBackendOps)
#include "test_cuda_backend_ops.moc"
