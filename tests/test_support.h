// Paths the tests read fixtures from.
#pragma once
#include <QtTest>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

namespace qls::test {

// The shared/ tree: QLS_SHARED_DIR from the environment when set, so one build can run its
// tests against another fixture tree; else the path configured at build time.
inline std::filesystem::path shared_dir() {
    const char* env = std::getenv("QLS_SHARED_DIR");
    return std::filesystem::path(env && *env ? env : QLS_SHARED_DIR);
}
// shared/fixtures/ref: outputs of bitsandbytes, transformers, peft and tokenizers.
inline std::filesystem::path ref_dir() { return shared_dir() / "fixtures" / "ref"; }
// The source tree: QLS_SOURCE_DIR from the environment when set (ctest sets it; the GPU check
// runs binaries built here inside another checkout), else the path configured at build time.
inline std::filesystem::path source_dir() {
    const char* env = std::getenv("QLS_SOURCE_DIR");
    return std::filesystem::path(env && *env ? env : QLS_SOURCE_DIR);
}
// tests/fixtures: fixtures this project made (each beside its make_<name>.py).
inline std::filesystem::path fixture_dir() { return source_dir() / "tests" / "fixtures"; }

// A whole file as bytes (empty when it cannot be read: the comparison that follows fails).
inline std::string read_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& p, std::string_view bytes) {
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

// A scratch folder for one test function, removed when the object goes out of scope.
class ScratchDir {
public:
    ScratchDir() {
        m_path = std::filesystem::temp_directory_path() /
                 ("qls-test-" + std::to_string(::getpid()) + "-" + std::to_string(s_counter++));
        std::filesystem::create_directories(m_path);
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    const std::filesystem::path& path() const { return m_path; }

private:
    static inline int s_counter = 0;
    std::filesystem::path m_path;
};

}  // namespace qls::test

// Fails the test function unless `stmt` throws ExceptionType whose message contains `needle`.
#define QLS_VERIFY_THROWS_WITH(stmt, ExceptionType, needle)                                    \
    do {                                                                                       \
        bool qls_thrown_ = false;                                                              \
        try {                                                                                  \
            stmt;                                                                              \
        } catch (const ExceptionType& e) {                                                     \
            qls_thrown_ = true;                                                                \
            if (std::string(e.what()).find(needle) == std::string::npos)                       \
                QFAIL(qPrintable(QString("message '%1' lacks '%2'").arg(e.what(), needle)));   \
        }                                                                                      \
        if (!qls_thrown_) QFAIL("expected " #ExceptionType " from: " #stmt);                   \
    } while (0)
