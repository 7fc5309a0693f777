#include "core/util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "core/util/error.h"

namespace qls {

namespace {

std::filesystem::path temp_sibling(const std::filesystem::path& dest) {
    static std::atomic<unsigned> counter{0};
    auto name = dest.filename().string();
    QLS_CHECK(IoError, !name.empty(), "invalid destination path '", dest.string(), "'");
    name = "." + name + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    return dest.parent_path() / name;
}

void fsync_path(const std::filesystem::path& p, bool directory) {
    const int fd = ::open(p.empty() ? "." : p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return;  // best effort: some filesystems refuse to open directories
    ::fsync(fd);
    ::close(fd);
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::filesystem::path destination)
    : m_destination(std::move(destination)), m_temp(temp_sibling(m_destination)) {
    m_out.open(m_temp, std::ios::binary | std::ios::trunc);
    QLS_CHECK(IoError, m_out.is_open(), "cannot create '", m_temp.string(), "' (for '",
              m_destination.string(), "'): ", std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
    if (!m_committed) {
        m_out.close();
        std::error_code ec;
        std::filesystem::remove(m_temp, ec);
    }
}

void AtomicFileWriter::write(std::string_view bytes) {
    m_out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    QLS_CHECK(IoError, m_out.good(), "cannot write '", m_destination.string(), "' (disk full?)");
}

void AtomicFileWriter::commit() {
    QLS_ASSERT(!m_committed, "commit() called twice for ", m_destination.string());
    m_out.flush();
    QLS_CHECK(IoError, m_out.good(), "cannot write '", m_destination.string(), "' (disk full?)");
    m_out.close();
    fsync_path(m_temp, false);
    std::error_code ec;
    std::filesystem::rename(m_temp, m_destination, ec);
    QLS_CHECK(IoError, !ec, "cannot rename '", m_temp.string(), "' to '", m_destination.string(),
              "': ", ec.message());
    m_committed = true;
    fsync_path(m_destination.parent_path(), true);
}

void write_file_atomic(const std::filesystem::path& destination, std::string_view bytes) {
    AtomicFileWriter w(destination);
    w.write(bytes);
    w.commit();
}

AtomicDirWriter::AtomicDirWriter(std::filesystem::path destination)
    : m_destination(std::move(destination)), m_temp(temp_sibling(m_destination)) {
    std::error_code ec;
    if (!m_destination.parent_path().empty())
        std::filesystem::create_directories(m_destination.parent_path(), ec);
    std::filesystem::create_directory(m_temp, ec);
    QLS_CHECK(IoError, !ec, "cannot create folder '", m_temp.string(), "': ", ec.message());
}

void remove_dir_atomic(const std::filesystem::path& dir) noexcept {
    try {
        const std::filesystem::path aside = temp_sibling(dir);
        std::error_code ec;
        std::filesystem::rename(dir, aside, ec);
        if (ec) return;
        fsync_path(dir.parent_path(), true);  // the rename reaches the disk before the deletes
        std::filesystem::remove_all(aside, ec);
    } catch (...) {  // temp_sibling's std::string: out of memory leaves the folder whole
    }
}

AtomicDirWriter::~AtomicDirWriter() {
    if (!m_committed) {
        std::error_code ec;
        std::filesystem::remove_all(m_temp, ec);
    }
}

void AtomicDirWriter::commit() {
    QLS_ASSERT(!m_committed, "commit() called twice for ", m_destination.string());
    std::error_code ec;
    // A folder cannot be renamed over a non-empty one: move the old one aside first, so that
    // at every moment either the old or the new folder is complete.
    std::filesystem::path old;
    if (std::filesystem::exists(m_destination, ec)) {
        old = temp_sibling(m_destination);
        std::filesystem::rename(m_destination, old, ec);
        QLS_CHECK(IoError, !ec, "cannot move the old '", m_destination.string(), "' aside: ", ec.message());
    }
    std::filesystem::rename(m_temp, m_destination, ec);
    if (ec) {
        std::error_code ignored;
        if (!old.empty()) std::filesystem::rename(old, m_destination, ignored);
        throw IoError(str_cat("cannot rename '", m_temp.string(), "' to '", m_destination.string(),
                              "': ", ec.message()));
    }
    m_committed = true;
    if (!old.empty()) std::filesystem::remove_all(old, ec);
    fsync_path(m_destination.parent_path(), true);
}

}  // namespace qls
