#include "core/util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/util/error.h"

namespace qls {

void MappedFile::Unmap::operator()(void* p) const noexcept {
    if (p != nullptr && p != MAP_FAILED) munmap(p, size);
}

MappedFile::MappedFile(const std::filesystem::path& path)
    : m_path(path), m_map(nullptr, Unmap{0}) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    QLS_CHECK(IoError, fd >= 0, "cannot open '", path.string(), "': ", std::strerror(errno));
    struct stat st {};
    const int rc = ::fstat(fd, &st);
    const int err = errno;
    if (rc != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        QLS_CHECK(IoError, rc == 0, "cannot stat '", path.string(), "': ", std::strerror(err));
        throw IoError(str_cat("'", path.string(), "' is not a regular file"));
    }
    m_size = static_cast<std::size_t>(st.st_size);
    if (m_size > 0) {
        void* p = ::mmap(nullptr, m_size, PROT_READ, MAP_PRIVATE, fd, 0);
        const int map_err = errno;
        ::close(fd);
        QLS_CHECK(IoError, p != MAP_FAILED, "cannot map '", path.string(), "': ", std::strerror(map_err));
        m_map = std::unique_ptr<void, Unmap>(p, Unmap{m_size});
        m_data = static_cast<const std::byte*>(p);
    } else {
        ::close(fd);
    }
}

}  // namespace qls
