// A line-per-record log file (metrics.jsonl, events.jsonl; also TensorBoard's binary records)
// whose appends are checked. A line goes in with one write; when the system refuses it (disk
// full, quota, file size limit), the partial line is cut off again and the append is retried
// with a growing pause until the retry window ends (a full disk or quota may free up; a file
// size limit is not retried), then an IoError naming the file says why. So a log never holds
// a torn line or a silent gap: a run either gets every line in, or stops with a clear error.
#pragma once
#include <chrono>
#include <filesystem>
#include <string_view>

namespace qls {

class AppendLog {
public:
    AppendLog() = default;
    // Opens (creating) `path` for appending; IoError when it cannot.
    explicit AppendLog(std::filesystem::path path, std::chrono::milliseconds retry_for = std::chrono::seconds(30));
    AppendLog(AppendLog&& other) noexcept;
    AppendLog& operator=(AppendLog&& other) noexcept;
    AppendLog(const AppendLog&) = delete;
    AppendLog& operator=(const AppendLog&) = delete;
    ~AppendLog();

    bool is_open() const { return m_fd >= 0; }
    // Appends `line` and a newline, whole or not at all.
    void append(std::string_view line);
    // Appends `bytes` as they are, whole or not at all: binary records (TensorBoard's TFRecord).
    void append_bytes(std::string_view bytes);

private:
    std::filesystem::path m_path;
    std::chrono::milliseconds m_retry_for{0};
    int m_fd = -1;
};

}  // namespace qls
