// qlora doctor's report (core/diagnostics/system_report.h): the host's facts are this
// machine's, and a device backend's report (a fake one here; kernels/device_info.cu on a CUDA
// build) reaches the text and the JSON.
#include <QtTest>

#include <nlohmann/json.hpp>

#include "core/backend/backend_registry.h"
#include "core/diagnostics/system_report.h"
#include "core/util/parallel.h"

using namespace qls;

class TestSystemReport : public QObject {
    Q_OBJECT
private slots:
    void hostFacts() {
        const SystemReport r = system_report("qlora test");
        QCOMPARE(r.program, std::string("qlora test"));
        QCOMPARE(r.threads, static_cast<std::int64_t>(num_threads()));
        QVERIFY(r.host_memory > 0 && r.host_available > 0 && r.host_available <= r.host_memory);
        QVERIFY(!r.os.empty() && !r.cpu.empty());
        QVERIFY(r.blas.find("OpenBLAS") != std::string::npos);
        QCOMPARE(r.devices.size(), std::size_t{1});
        QCOMPARE(r.devices[0].kind, std::string("cuda"));
        // This core test links no CUDA backend.
        QVERIFY(!r.devices[0].built);
        const std::string text = format_system_report(r);
        QVERIFY2(text.find("cuda: this build has no CUDA backend") != std::string::npos, text.c_str());
    }

    void deviceReportReachesTextAndJson() {
        DeviceBackendFactory f;
        f.kind = "cuda";
        f.device_count = [] { return 1; };
        f.device_name = [](int) { return std::string("Fake GPU"); };
        f.create = [](int) -> std::unique_ptr<Backend> { return nullptr; };
        f.report = [] {
            DeviceKindReport k;
            k.kind = "cuda";
            k.built = true;
            k.runtime = "CUDA runtime 13.0";
            k.driver = "driver for CUDA 13.1";
            k.architectures = "sm_75 sm_120";
            k.devices.push_back({"Fake GPU", 8, 9, std::int64_t{24} << 30, std::int64_t{20} << 30, 128, false});
            return k;
        };
        register_device_backend(f);
        const SystemReport r = system_report("qlora test");
        const std::string text = format_system_report(r);
        QVERIFY2(text.find("cuda: CUDA runtime 13.0; driver for CUDA 13.1; built for sm_75 sm_120") != std::string::npos,
                 text.c_str());
        QVERIFY2(text.find("cuda:0  Fake GPU, compute capability 8.9, 24.00 GiB (20.00 GiB free), 128 SMs  -- this "
                           "build has no code for it") != std::string::npos,
                 text.c_str());
        const nlohmann::json j = system_report_json(r);
        QCOMPARE(j.at("devices").at(0).at("devices").at(0).at("compute_capability").get<std::string>(), std::string("8.9"));
        QCOMPARE(j.at("devices").at(0).at("devices").at(0).at("free_bytes").get<std::int64_t>(), std::int64_t{20} << 30);
        QCOMPARE(j.at("threads").get<std::int64_t>(), r.threads);
    }
};

QTEST_GUILESS_MAIN(TestSystemReport)
#include "test_system_report.moc"
