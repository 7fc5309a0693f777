// Core utilities: errors with context, half/bf16 rounding, atomic writes, parallel_for.
#include <QtTest>

#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <cmath>
#include <fstream>

#include "core/backend/cpu/cpu_exp.h"
#include "core/util/append_log.h"
#include "core/util/atomic_file.h"
#include "core/util/error.h"
#include "core/util/half.h"
#include "core/util/mapped_file.h"
#include "core/util/parallel.h"
#include "core/util/tensor_view.h"
#include "tests/test_support.h"

using namespace qls;

class TestUtil : public QObject {
    Q_OBJECT
private slots:
    // A full disk: every write fails with ENOSPC. The append is retried for its window, then
    // an IoError names the file and the reason.
    void appendLogRetriesThenSaysWhy() {
        AppendLog log("/dev/full", std::chrono::milliseconds(300));
        const auto start = std::chrono::steady_clock::now();
        QLS_VERIFY_THROWS_WITH(log.append("{\"step\": 1}"), IoError, "cannot append to '/dev/full': No space left on device");
        QVERIFY(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(300));
    }
    // A write cut short by a file size limit leaves no torn line: the partial bytes are cut off.
    void appendLogNeverTearsALine() {
        qls::test::ScratchDir dir;
        const auto path = dir.path() / "metrics.jsonl";
        AppendLog log(path, std::chrono::milliseconds(0));
        log.append("{\"step\": 1}");
        const auto size = std::filesystem::file_size(path);
        rlimit old{};
        ::getrlimit(RLIMIT_FSIZE, &old);
        const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
        rlimit small = old;
        small.rlim_cur = size + 5;
        ::setrlimit(RLIMIT_FSIZE, &small);
        bool threw = false;
        try {
            log.append("{\"step\": 2, \"loss\": 1.5}");
        } catch (const IoError& e) {
            threw = std::string(e.what()).find("File too large") != std::string::npos;
        }
        ::setrlimit(RLIMIT_FSIZE, &old);
        ::signal(SIGXFSZ, old_handler);
        QVERIFY(threw);
        QCOMPARE(std::filesystem::file_size(path), size);
        log.append("{\"step\": 2}");  // space again: the log goes on with whole lines
        std::ifstream in(path);
        const std::string text{std::istreambuf_iterator<char>(in), {}};
        QCOMPARE(text, std::string("{\"step\": 1}\n{\"step\": 2}\n"));
    }
    void errorCarriesContext() {
        try {
            with_context("while loading model.safetensors", [] {
                QLS_CHECK(FormatError, false, "tensor 'x': expected ", Shape{2, 3}, ", got ", Shape{3});
            });
            QFAIL("no throw");
        } catch (const FormatError& e) {
            QCOMPARE(std::string(e.what()),
                     std::string("while loading model.safetensors: tensor 'x': expected [2, 3], got [3]"));
        }
    }
    void bf16RoundsToNearestEven() {
        QCOMPARE(f32_to_bf16(1.0f), std::uint16_t(0x3f80));
        QCOMPARE(f32_to_bf16(std::bit_cast<float>(0x3f808000u)), std::uint16_t(0x3f80));  // tie -> even
        QCOMPARE(f32_to_bf16(std::bit_cast<float>(0x3f818000u)), std::uint16_t(0x3f82));  // tie -> even
        QCOMPARE(f32_to_bf16(std::bit_cast<float>(0x3f808001u)), std::uint16_t(0x3f81));
        QVERIFY(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
    }
    void f16RoundTripsEveryHalf() {
        for (std::uint32_t h = 0; h < 0x10000; ++h) {
            const float f = f16_to_f32(std::uint16_t(h));
            if (std::isnan(f)) continue;
            QCOMPARE(f32_to_f16(f), std::uint16_t(h));
        }
        QCOMPARE(f32_to_f16(65520.0f), std::uint16_t(0x7c00));   // rounds to inf
        QCOMPARE(f32_to_f16(65519.0f), std::uint16_t(0x7bff));   // max half
        QCOMPARE(f32_to_f16(std::ldexp(1.0f, -25)), std::uint16_t(0));  // tie to even (0)
        QCOMPARE(f32_to_f16(std::ldexp(3.0f, -25)), std::uint16_t(2));  // 1.5 ulp -> 2
    }
    // exp_f32 against the correctly rounded value (std::exp in double, rounded once): every
    // 64th fp32 in the normal range and all the edges. 2 ulp is Cephes' stated bound.
    void expWithinTwoUlp() {
        auto ulps = [](float got, double exact) {
            const auto want = static_cast<float>(exact);
            const float ulp = std::nextafter(want, INFINITY) - want;
            return std::fabs(double(got) - exact) / ulp;
        };
        double worst = 0;
        for (std::uint32_t bits = 0; bits < 0xffffffffu - 64; bits += 64) {
            const float x = std::bit_cast<float>(bits);
            if (!(x > -87.3f && x < 88.7f)) continue;  // results normal and finite
            worst = std::max(worst, ulps(cpu::exp_f32(x), std::exp(double(x))));
        }
        qInfo() << "exp_f32 worst error" << worst << "ulp";
        QVERIFY2(worst <= 2.0, qPrintable(QString::number(worst)));
        QCOMPARE(cpu::exp_f32(0.0f), 1.0f);
        QCOMPARE(cpu::exp_f32(INFINITY), INFINITY);
        QCOMPARE(cpu::exp_f32(89.0f), INFINITY);
        QCOMPARE(cpu::exp_f32(-INFINITY), 0.0f);
        QCOMPARE(cpu::exp_f32(-100.0f), 0.0f);
        QVERIFY(std::isnan(cpu::exp_f32(NAN)));
    }
    void atomicWriteReplacesOnlyOnCommit() {
        test::ScratchDir dir;
        const auto path = dir.path() / "a.txt";
        write_file_atomic(path, "old");
        {
            AtomicFileWriter w(path);
            w.write("new");
            // not committed: destroyed without commit
        }
        std::ifstream in(path);
        std::string s;
        in >> s;
        QCOMPARE(s, std::string("old"));
        QCOMPARE(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
    }
    void atomicDirReplacesWholeFolder() {
        test::ScratchDir dir;
        const auto out = dir.path() / "out";
        for (const char* content : {"first", "second"}) {
            AtomicDirWriter w(out);
            write_file_atomic(w.dir() / "f", content);
            w.commit();
        }
        MappedFile f(out / "f");
        QCOMPARE(std::string(reinterpret_cast<const char*>(f.bytes().data()), f.size()), std::string("second"));
        QCOMPARE(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
    }
    // A pruned checkpoint: gone with everything in it, no temporary left; a missing folder is
    // not an error. (The kill-midway case is test_crash_consistency's.)
    void removeDirAtomicLeavesNothing() {
        test::ScratchDir dir;
        const auto doomed = dir.path() / "step-6";
        std::filesystem::create_directories(doomed / "adapter");
        for (const char* name : {"checksums.json", "trainer_state.json", "adapter/adapter_model.safetensors"})
            write_file_atomic(doomed / name, name);
        write_file_atomic(dir.path() / "kept", "kept");
        remove_dir_atomic(doomed);
        QVERIFY(!std::filesystem::exists(doomed));
        QCOMPARE(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
        remove_dir_atomic(doomed);
        QCOMPARE(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
    }
    void mappedFileNamesMissingPath() {
        QLS_VERIFY_THROWS_WITH(MappedFile("/nonexistent/x.bin"), IoError, "/nonexistent/x.bin");
    }
    void parallelForCoversRangeAndRethrows() {
        set_num_threads(4);
        std::vector<std::atomic<int>> hits(1000);
        parallel_for(hits.size(), 7, [&](std::size_t b, std::size_t e) {
            for (auto i = b; i < e; ++i) hits[i]++;
        });
        for (auto& h : hits) QCOMPARE(h.load(), 1);
        QVERIFY_THROWS_EXCEPTION(DataError, parallel_for(100, 1, [](std::size_t b, std::size_t) {
                                     if (b > 0) throw DataError("boom");
                                 }));
        set_num_threads(0);
    }
};

QTEST_GUILESS_MAIN(TestUtil)
#include "test_util.moc"
