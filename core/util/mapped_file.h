// A read-only memory map of a whole file; tensor views point into it without copying.
#pragma once
#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>

namespace qls {

class MappedFile {
public:
    // Throws IoError naming the path when the file cannot be opened or mapped.
    explicit MappedFile(const std::filesystem::path& path);
    MappedFile(MappedFile&&) noexcept = default;
    MappedFile& operator=(MappedFile&&) noexcept = default;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile() = default;

    std::span<const std::byte> bytes() const { return {m_data, m_size}; }
    std::size_t size() const { return m_size; }
    const std::filesystem::path& path() const { return m_path; }

private:
    struct Unmap {
        std::size_t size;
        void operator()(void* p) const noexcept;
    };
    std::filesystem::path m_path;
    std::unique_ptr<void, Unmap> m_map;
    const std::byte* m_data = nullptr;
    std::size_t m_size = 0;
};

}  // namespace qls
