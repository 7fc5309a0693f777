#include "core/util/append_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "core/util/error.h"

namespace qls {

AppendLog::AppendLog(std::filesystem::path path, std::chrono::milliseconds retry_for)
    : m_path(std::move(path)), m_retry_for(retry_for) {
    m_fd = ::open(m_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    QLS_CHECK(IoError, m_fd >= 0, "cannot open '", m_path.string(), "' for appending: ", std::strerror(errno));
}

AppendLog::AppendLog(AppendLog&& other) noexcept
    : m_path(std::move(other.m_path)), m_retry_for(other.m_retry_for), m_fd(std::exchange(other.m_fd, -1)) {}

AppendLog& AppendLog::operator=(AppendLog&& other) noexcept {
    if (this != &other) {
        if (m_fd >= 0) ::close(m_fd);
        m_path = std::move(other.m_path);
        m_retry_for = other.m_retry_for;
        m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
}

AppendLog::~AppendLog() {
    if (m_fd >= 0) ::close(m_fd);
}

void AppendLog::append(std::string_view line) {
    std::string text(line);
    text += '\n';
    append_bytes(text);
}

void AppendLog::append_bytes(std::string_view text) {
    QLS_ASSERT(m_fd >= 0, "append to a closed log");
    const auto deadline = std::chrono::steady_clock::now() + m_retry_for;
    auto pause = std::chrono::milliseconds(50);
    for (;;) {
        struct stat st {};
        if (::fstat(m_fd, &st) != 0)
            throw IoError(str_cat("cannot append to '", m_path.string(), "': ", std::strerror(errno)));
        std::size_t done = 0;
        int error = 0;
        while (done < text.size()) {
            const ssize_t n = ::write(m_fd, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                error = n < 0 ? errno : ENOSPC;
                break;
            }
            done += static_cast<std::size_t>(n);
        }
        if (done == text.size()) return;
        // Cut the partial line off, so the file ends at a whole line whatever happens next.
        if (done > 0 && ::ftruncate(m_fd, st.st_size) != 0) error = errno;
        // A full disk or quota may free up; a file size limit (EFBIG) will not.
        if (error == EFBIG || std::chrono::steady_clock::now() >= deadline)
            throw IoError(str_cat("cannot append to '", m_path.string(), "': ", std::strerror(error),
                                  error == EFBIG ? "" : str_cat(" (retried for ", m_retry_for.count() / 1000.0, " s)")));
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(2000));
    }
}

}  // namespace qls
