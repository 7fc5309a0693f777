// Writes that never leave a half-written file or folder behind: write into a temporary
// sibling, flush it to disk, then rename it over the destination. A process killed midway
// leaves the old destination (if any) intact and at worst a stray temporary.
#pragma once
#include <filesystem>
#include <fstream>
#include <string_view>

namespace qls {

class AtomicFileWriter {
public:
    explicit AtomicFileWriter(std::filesystem::path destination);
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
    ~AtomicFileWriter();  // removes the temporary unless commit() succeeded; never throws

    std::ofstream& stream() { return m_out; }
    void write(std::string_view bytes);
    // Flush, fsync and rename onto the destination. Throws IoError (disk full, no permission).
    void commit();

private:
    std::filesystem::path m_destination;
    std::filesystem::path m_temp;
    std::ofstream m_out;
    bool m_committed = false;
};

// Write a whole file atomically.
void write_file_atomic(const std::filesystem::path& destination, std::string_view bytes);

// Removes a folder so that it is never seen half deleted: renamed to a hidden temporary sibling
// first, then deleted. A process killed midway leaves that temporary (which whoever cleans up
// interrupted saves removes), not a folder under the old name missing some of its files.
// Never throws: a folder that cannot be renamed is left whole.
void remove_dir_atomic(const std::filesystem::path& dir) noexcept;

// A folder built in a temporary sibling and renamed into place (replacing an old one) on commit().
class AtomicDirWriter {
public:
    explicit AtomicDirWriter(std::filesystem::path destination);
    AtomicDirWriter(const AtomicDirWriter&) = delete;
    AtomicDirWriter& operator=(const AtomicDirWriter&) = delete;
    ~AtomicDirWriter();  // removes the temporary folder unless committed; never throws

    const std::filesystem::path& dir() const { return m_temp; }
    void commit();

private:
    std::filesystem::path m_destination;
    std::filesystem::path m_temp;
    bool m_committed = false;
};

}  // namespace qls
