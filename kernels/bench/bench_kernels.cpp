// qls-bench-kernels: validate, then time the 4-bit kernels on 7B-layer-sized weights.
// Validation is the same as tests/test_cuda_quant.cpp (kernels/bench/quant_check.h) without
// Qt, so a GPU machine lacking Qt runs it too; timing starts only when every check passed.
// Timing: CUDA events around each launch, warm-up first, median of many; inputs rotate among
// sets larger than L2 together; each kernel is reported against a device-to-device
// cudaMemcpy moving the same bytes (read + write) in the same run.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/io/safetensors_reader.h"
#include "kernels/bench/bnb_fixture_cases.h"
#include "kernels/bench/quant_check.h"
#include "kernels/cuda_check.h"
#include "kernels/device_info.h"

using namespace qls;
using namespace qls::cuda;
using namespace qls::cuda::check;

namespace {

// QLS_SHARED_DIR from the environment wins over the build-time path (one build, another tree).
std::filesystem::path shared_dir() {
    const char* env = std::getenv("QLS_SHARED_DIR");
    return env && *env ? std::filesystem::path(env) : std::filesystem::path(QLS_SHARED_DIR);
}

struct Options {
    std::filesystem::path fixtures = shared_dir() / "fixtures/ref/bnb";
    int warmup = 10;
    int reps = 100;
    bool quick = false;   // fewer random validation cases, no full-size CPU comparison
    bool timing = true;   // --no-timing: validate only (under compute-sanitizer)
    std::string results;  // --results FILE: one tab-separated line per measurement
};

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// ---- validation -------------------------------------------------------------------------------

int report(const std::string& what, const std::vector<std::string>& failures) {
    std::printf("%-8s %s\n", failures.empty() ? "PASS" : "FAIL", what.c_str());
    for (const std::string& f : failures) std::printf("         %s\n", f.c_str());
    return failures.empty() ? 0 : 1;
}

int validate_random(const Options& o) {
    const std::vector<Shape> shapes = {{257, 333}, {1}, {7}, {3, 4097}, {4095}, {1000, 129}};
    const std::vector<int> blocksizes =
        o.quick ? std::vector<int>{64, 4096} : std::vector<int>{32, 64, 128, 256, 512, 1024, 2048, 4096};
    int failed = 0, count = 0;
    std::uint64_t seed = 1;
    for (const Dist dist : {Dist::Normal, Dist::StudentT, Dist::ZeroBlocks, Dist::Ties})
        for (const DType dtype : {DType::F32, DType::BF16, DType::F16})
            for (const QuantType type : {QuantType::NF4, QuantType::FP4})
                for (const int bs : blocksizes)
                    for (const bool nested : {false, true}) {
                        const RandomCase c{dist, shapes[seed % shapes.size()], dtype, type, bs, nested, seed};
                        ++seed;
                        ++count;
                        const std::vector<std::string> f = check_against_cpu(c);
                        if (!f.empty()) failed += report(c.name(), f);
                    }
    std::printf("%-8s %d random cases against the CPU reference\n", failed ? "FAIL" : "PASS", count);
    return failed;
}

int validate_fixtures(const Options& o) {
    int failed = 0, count = 0;
    const SafetensorsFile cases(o.fixtures / "quantize_cases.safetensors");
    for (const FixtureCase& c : quantize_fixture_cases(cases)) {
        ++count;
        failed += report("bnb " + c.name, check_fixture_case(cases, c));
    }
    const SafetensorsFile ref(o.fixtures / "bnb_reference.safetensors");
    for (const FixtureCase& c : reference_fixture_cases()) {
        ++count;
        failed += report("bnb " + c.name, check_fixture_case(ref, c));
    }
    std::printf("%-8s %d bitsandbytes fixture cases\n", failed ? "FAIL" : "PASS", count);
    return failed;
}

// The benchmark's own sizes, so that what is timed is what was checked.
int validate_full_size(const std::vector<Shape>& shapes) {
    int failed = 0;
    std::uint64_t seed = 1000;
    for (const Shape& shape : shapes)
        for (const bool nested : {false, true}) {
            const RandomCase c{Dist::Normal, shape, DType::BF16, QuantType::NF4, 64, nested, seed++};
            failed += report(c.name(), check_against_cpu(c));
        }
    return failed;
}

// ---- timing -------------------------------------------------------------------------------------

// Median milliseconds of `launch(rep)` over o.reps runs after o.warmup.
template <typename F>
double median_ms(const Options& o, F&& launch) {
    const EventHandle start = make_event(), stop = make_event();
    for (int r = 0; r < o.warmup; ++r) launch(r);
    std::vector<float> ms(std::size_t(o.reps));
    for (int r = 0; r < o.reps; ++r) {
        QLS_CUDA_CHECK(cudaEventRecord(start.get(), nullptr));
        launch(r);
        QLS_CUDA_CHECK(cudaEventRecord(stop.get(), nullptr));
        QLS_CUDA_CHECK(cudaEventSynchronize(stop.get()));
        QLS_CUDA_CHECK(cudaEventElapsedTime(&ms[std::size_t(r)], start.get(), stop.get()));
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

// A device-to-device copy moving `traffic` bytes (half read, half written).
double memcpy_ms(const Options& o, std::size_t traffic) {
    const std::size_t bytes = traffic / 2;
    DeviceBuffer src(bytes), dst(bytes);
    src.fill(0x3c);
    return median_ms(o, [&](int) {
        QLS_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice, nullptr));
    });
}

void print_row(std::FILE* results, const std::string& what, std::size_t traffic, double ms, double peer_ms) {
    const double gbs = double(traffic) / ms * 1e-6, peer = double(traffic) / peer_ms * 1e-6;
    std::printf("%-44s %9.1f MB %9.4f ms %8.1f GB/s  memcpy %8.4f ms %8.1f GB/s  ratio %.2f\n", what.c_str(),
                double(traffic) * 1e-6, ms, gbs, peer_ms, peer, gbs / peer);
    if (results)
        std::fprintf(results, "%s\t%zu\t%.6f\t%.2f\t%.6f\t%.2f\t%.4f\n", what.c_str(), traffic, ms, gbs,
                     peer_ms, peer, gbs / peer);
}

// Enough copies of the state that together they exceed L2, so reps read device memory.
constexpr int kInputSets = 4;

void time_dequantize(const Options& o, std::FILE* results, const Shape& shape, bool nested, DType out_dtype) {
    const OwnedTensor input = make_input(Dist::Normal, shape, DType::BF16, 7);
    std::vector<Quantized4bitDevice> sets;
    for (int s = 0; s < kInputSets; ++s)
        sets.push_back(
            Quantized4bitDevice::upload(quantize_4bit_cuda(input.view(), QuantType::NF4, 64, nested)));
    const Quantized4bitDevice& d = sets[0];
    DeviceBuffer out(std::size_t(d.n) * dtype_size(out_dtype));
    const std::size_t traffic =
        d.packed.size() + d.absmax.size() + d.absmax_codes.size() + d.nested_absmax.size() + out.size();
    const double ms = median_ms(o, [&](int r) {
        dequantize_4bit(sets[std::size_t(r % kInputSets)].dequantize_args(out.data(), out_dtype), nullptr);
    });
    print_row(results, str_cat("dequant nf4 ", shape, nested ? " dq -> " : " sq -> ", dtype_name(out_dtype)),
              traffic, ms, memcpy_ms(o, traffic));
}

void time_quantize(const Options& o, std::FILE* results, const Shape& shape, DType dtype, bool nested) {
    const OwnedTensor input = make_input(Dist::Normal, shape, dtype, 8);
    const DeviceBuffer d_in = to_device(input.view().data);
    const std::int64_t n = numel(shape), blocks = (n + 63) / 64;
    DeviceBuffer packed{std::size_t((n + 1) / 2)}, absmax{std::size_t(blocks) * 4};
    DeviceBuffer offset{4}, codes{std::size_t(blocks)}, nest{std::size_t((blocks + 255) / 256) * 4};
    const DeviceBuffer map = to_device(std::span<const float>(dynamic_signed_map()));
    std::size_t traffic = d_in.size() + packed.size() + absmax.size();
    if (nested) traffic += 2 * absmax.size() + codes.size() + nest.size();
    const double ms = median_ms(o, [&](int) {
        quantize_4bit(
            {d_in.data(), dtype, n, QuantType::NF4, 64, packed.as<std::uint8_t>(), absmax.as<float>()},
            nullptr);
        if (!nested) return;
        absmax_mean(absmax.as<float>(), blocks, offset.as<float>(), nullptr);
        double_quant_absmax({absmax.as<float>(), blocks, offset.as<float>(), map.as<float>(),
                             codes.as<std::uint8_t>(), nest.as<float>()},
                            nullptr);
    });
    print_row(results, str_cat("quant nf4 ", shape, " ", dtype_name(dtype), nested ? " dq" : " sq"), traffic,
              ms, memcpy_ms(o, traffic));
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--fixtures" && has_value) {
            o.fixtures = argv[++i];
        } else if (a == "--reps" && has_value) {
            o.reps = std::max(1, std::atoi(argv[++i]));
        } else if (a == "--results" && has_value) {
            o.results = argv[++i];
        } else if (a == "--quick") {
            o.quick = true;
        } else if (a == "--no-timing") {
            o.timing = false;
        } else {
            throw ConfigError(
                str_cat("usage: qls-bench-kernels [--fixtures DIR] [--reps N] [--results FILE] [--quick]"
                        " [--no-timing]\n"
                        "unknown argument '",
                        a, "'"));
        }
    }
    return o;
}

int run(const Options& o) {
    if (!device_available()) {
        std::printf("no CUDA device\n");
        return 2;
    }
    const DeviceInfo info = device_info();
    std::printf("device: %s (sm_%d%d, %d SMs, %.1f GiB)\n", info.name.c_str(), info.major, info.minor,
                info.multiprocessors, double(info.total_bytes) / (1 << 30));
    const std::vector<Shape> shapes = {{4096, 11008}, {8192, 8192}};
    int failed = validate_random(o) + validate_fixtures(o);
    if (!o.quick) failed += validate_full_size(shapes);
    if (failed) {
        std::printf("%d checks failed: no timings\n", failed);
        return 1;
    }
    if (!o.timing) return 0;
    const File results(o.results.empty() ? nullptr : std::fopen(o.results.c_str(), "w"));
    QLS_CHECK(IoError, o.results.empty() || results, "cannot write ", o.results);
    std::printf("\n%-44s %12s %12s %13s  %s\n", "kernel (median of reps)", "traffic", "time", "bandwidth",
                "peer (cudaMemcpy D2D, same bytes)");
    for (const Shape& shape : shapes) {
        for (const DType out : {DType::BF16, DType::F16, DType::F32})
            for (const bool nested : {false, true}) time_dequantize(o, results.get(), shape, nested, out);
        for (const DType in : {DType::BF16, DType::F32})
            for (const bool nested : {false, true}) time_quantize(o, results.get(), shape, in, nested);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(parse(argc, argv));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qls-bench-kernels: %s\n", e.what());
        return 2;
    }
}
