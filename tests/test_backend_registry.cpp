// The device chosen at run time (core/backend/backend_registry.h): parsing --device, the CPU
// always available, a clear error for a device this build or machine lacks, auto saying what
// it chose and why, and a registered device backend taken by auto; a device's memory asked for
// without a backend, resolved as the backend would be. The trainer records the choice in
// run.json and the event stream.
#include <QtTest>

#include "core/backend/backend_registry.h"
#include "core/backend/cpu/cpu_backend.h"
#include "core/train/run_folder.h"
#include "core/train/train_config.h"
#include "core/util/parallel.h"
#include "test_support.h"

using namespace qls;

namespace {

// A stand-in device backend: a CPU backend that names itself otherwise, on `devices` devices;
// device i has i + 1 GiB free of 8 GiB, so an answer says which device it came from.
void register_fake_cuda(int devices) {
    register_device_backend({"cuda", [devices] { return devices; },
                             [](int i) { return str_cat("Fake GPU ", i); },
                             [](int) -> std::unique_ptr<Backend> { return std::make_unique<CpuBackend>(); },
                             {},
                             [](int i) {
                                 return DeviceMemory{str_cat("Fake GPU ", i, " (cuda:", i, ")"),
                                                     std::int64_t(i + 1) << 30, std::int64_t{8} << 30};
                             },
                             [] { return std::unique_ptr<MemoryPlanner>(std::make_unique<CpuBackend>()); }});
}

}  // namespace

class TestBackendRegistry : public QObject {
    Q_OBJECT
private slots:
    void parsesDeviceNames();
    void cpuAndAutoWithoutCuda();
    void registeredDeviceBackend();
    void configKeepsTheDevice();
};

void TestBackendRegistry::parsesDeviceNames() {
    QCOMPARE(device_spec_name(parse_device("auto")), std::string("auto"));
    QCOMPARE(device_spec_name(parse_device("cpu")), std::string("cpu"));
    QCOMPARE(device_spec_name(parse_device("cuda")), std::string("cuda:0"));
    QCOMPARE(parse_device("cuda:3").index, 3);
    for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:x", "CPU", "cuda:1x", ""})
        QLS_VERIFY_THROWS_WITH(parse_device(bad), ConfigError, "expected auto, cpu, cuda or cuda:N");
}

// This test runs first in its process: no device backend is registered yet.
void TestBackendRegistry::cpuAndAutoWithoutCuda() {
    const BackendChoice cpu = make_backend(parse_device("cpu"));
    QVERIFY(cpu.backend);
    QCOMPARE(cpu.kind, std::string("cpu"));
    QCOMPARE(cpu.threads, std::int64_t(num_threads()));
    QCOMPARE(cpu.device, str_cat("CPU (", num_threads(), " threads)"));
    const BackendChoice automatic = make_backend(parse_device("auto"));
    QCOMPARE(automatic.kind, std::string("cpu"));
    QCOMPARE(automatic.reason, std::string("auto chose the CPU: this build has no CUDA backend"));
    QCOMPARE(auto_device().reason, std::string("this build has no CUDA backend"));
    QLS_VERIFY_THROWS_WITH(make_backend(parse_device("cuda")), ConfigError,
                           "device cuda:0: this build has no CUDA backend; use --device cpu (or auto)");
    QCOMPARE(device_options().size(), std::size_t(2));
    QVERIFY(!device_memory(parse_device("cpu")));
    QVERIFY(!device_memory(parse_device("auto")));
    QLS_VERIFY_THROWS_WITH(device_memory(parse_device("cuda")), ConfigError,
                           "device cuda:0: this build has no CUDA backend");
}

void TestBackendRegistry::registeredDeviceBackend() {
    register_fake_cuda(0);
    QLS_VERIFY_THROWS_WITH(make_backend(parse_device("cuda")), ConfigError, "device cuda:0: no CUDA device found");
    QCOMPARE(make_backend(parse_device("auto")).reason, std::string("auto chose the CPU: no CUDA device found"));
    QVERIFY(!device_memory(parse_device("auto")));  // auto falls back to the CPU, as make_backend does
    QLS_VERIFY_THROWS_WITH(device_memory(parse_device("cuda")), ConfigError, "device cuda:0: no CUDA device found");

    register_fake_cuda(2);  // replaces the first registration
    const BackendChoice automatic = make_backend(parse_device("auto"));
    QCOMPARE(automatic.kind, std::string("cuda"));
    QCOMPARE(automatic.device, std::string("Fake GPU 0 (cuda:0)"));
    QCOMPARE(make_backend(parse_device("cuda:1")).device, std::string("Fake GPU 1 (cuda:1)"));
    QLS_VERIFY_THROWS_WITH(make_backend(parse_device("cuda:2")), ConfigError, "only 2 CUDA devices (cuda:0..cuda:1)");
    QCOMPARE(make_backend(parse_device("cpu")).kind, std::string("cpu"));
    const std::vector<DeviceOption> options = device_options();
    QCOMPARE(options.size(), std::size_t(4));
    QCOMPARE(options[3].spec, std::string("cuda:1"));
    QCOMPARE(auto_device().device, std::string("Fake GPU 0 (cuda:0)"));

    for (const char* first : {"auto", "cuda", "cuda:0"}) {
        const std::optional<DeviceMemory> m = device_memory(parse_device(first));
        QVERIFY(m);
        QCOMPARE(m->device, std::string("Fake GPU 0 (cuda:0)"));
        QCOMPARE(m->free_bytes, std::int64_t{1} << 30);
        QCOMPARE(m->total_bytes, std::int64_t{8} << 30);
    }
    QCOMPARE(device_memory(parse_device("cuda:1"))->free_bytes, std::int64_t{2} << 30);
    QVERIFY(!device_memory(parse_device("cpu")));
    QLS_VERIFY_THROWS_WITH(device_memory(parse_device("cuda:2")), ConfigError, "only 2 CUDA devices (cuda:0..cuda:1)");
}

void TestBackendRegistry::configKeepsTheDevice() {
    TrainConfig c;
    QCOMPARE(c.device, std::string("auto"));
    c.device = "cuda:1";
    QCOMPARE(train_config_from_json(to_json(c)).device, std::string("cuda:1"));
    c.device = "gpu";
    QLS_VERIFY_THROWS_WITH(c.validate(), ConfigError, "device: expected auto, cpu, cuda or cuda:N, got 'gpu'");
    const RunDevice d{"cpu", "CPU (2 threads)", "fp32", 2, "asked for"};
    const nlohmann::json j = event_to_json(d);
    QCOMPARE(j.at("type").get<std::string>(), std::string("device"));
    QCOMPARE(j.at("device").get<std::string>(), d.device);
    QCOMPARE(j.at("compute_dtype").get<std::string>(), std::string("fp32"));
    QCOMPARE(j.at("threads").get<std::int64_t>(), std::int64_t{2});
}

QTEST_GUILESS_MAIN(TestBackendRegistry)
#include "test_backend_registry.moc"
