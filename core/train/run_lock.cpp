#include "core/train/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/util/error.h"

namespace qls {

namespace fs = std::filesystem;

RunLock::RunLock(const fs::path& run_dir) {
    std::error_code ec;
    fs::create_directories(run_dir, ec);
    QLS_CHECK(IoError, !ec, "cannot create run folder '", run_dir.string(), "': ", ec.message());
    const fs::path path = run_dir / ".lock";
    m_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    QLS_CHECK(IoError, m_fd >= 0, "cannot open '", path.string(), "': ", std::strerror(errno));
    if (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        char holder[32] = {};
        const ssize_t n = ::pread(m_fd, holder, sizeof holder - 1, 0);
        ::close(m_fd);
        m_fd = -1;
        QLS_CHECK(IoError, error == EWOULDBLOCK, "cannot lock '", path.string(), "': ", std::strerror(error));
        throw ConfigError(str_cat("the run in '", run_dir.string(), "' is in use by another process",
                                  n > 0 ? str_cat(" (pid ", std::string(holder, static_cast<std::size_t>(n)), ")") : "",
                                  ": wait for it to end or stop it first"));
    }
    const std::string pid = std::to_string(::getpid());
    if (::ftruncate(m_fd, 0) == 0) (void)!::pwrite(m_fd, pid.data(), pid.size(), 0);
}

RunLock::~RunLock() {
    if (m_fd >= 0) ::close(m_fd);  // closing drops the flock
}

int remove_interrupted_saves(const fs::path& run_dir) {
    int removed = 0;
    for (const fs::path& dir : {run_dir, run_dir / "checkpoints"}) {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir, ec)) {
            const std::string name = e.path().filename().string();
            if (!name.starts_with(".") || name.find(".tmp-") == std::string::npos) continue;
            std::error_code ignored;
            if (fs::remove_all(e.path(), ignored) > 0) ++removed;
        }
    }
    return removed;
}

}  // namespace qls
