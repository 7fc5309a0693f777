#include "core/hub/sha256.h"

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <vector>

#include "core/util/error.h"

namespace qls {

namespace {

struct DigestContext {
    DigestContext() : ctx(EVP_MD_CTX_new()) {
        QLS_CHECK(InternalError, ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1,
                  "OpenSSL could not start a SHA-256 digest");
    }
    void update(const void* data, std::size_t n) {
        QLS_CHECK(InternalError, EVP_DigestUpdate(ctx.get(), data, n) == 1, "OpenSSL SHA-256 update failed");
    }
    std::string hex() {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        QLS_CHECK(InternalError, EVP_DigestFinal_ex(ctx.get(), md, &len) == 1,
                  "OpenSSL SHA-256 final failed");
        static const char* digits = "0123456789abcdef";
        std::string out;
        for (unsigned int i = 0; i < len; ++i) {
            out += digits[md[i] >> 4];
            out += digits[md[i] & 15];
        }
        return out;
    }
    struct Free {
        void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
    };
    std::unique_ptr<EVP_MD_CTX, Free> ctx;
};

}  // namespace

std::string sha256_hex(std::string_view bytes) {
    DigestContext d;
    d.update(bytes.data(), bytes.size());
    return d.hex();
}

std::string sha256_hex_of_file(const std::filesystem::path& file, const ProgressFn& progress) {
    std::ifstream in(file, std::ios::binary);
    QLS_CHECK(IoError, in.good(), "cannot read '", file.string(), "'");
    const std::size_t total = std::filesystem::file_size(file);
    DigestContext d;
    std::vector<char> block(1 << 20);
    std::size_t done = 0;
    while (in) {
        in.read(block.data(), static_cast<std::streamsize>(block.size()));
        const auto n = static_cast<std::size_t>(in.gcount());
        d.update(block.data(), n);
        done += n;
        report_progress(progress, done, total);
    }
    QLS_CHECK(IoError, in.eof() && done == total, "reading '", file.string(), "' failed after ", done,
              " bytes");
    return d.hex();
}

}  // namespace qls
