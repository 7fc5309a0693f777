// Reads one safetensors file (formats.md §7) as zero-copy views into a memory map. The header
// is validated as strictly as the Rust reader does (safetensors/src/tensor.rs, `validate`):
// tensors must tile the byte buffer exactly, sizes must match shape × dtype, no duplicates.
#pragma once
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/io/named_tensor.h"
#include "core/util/mapped_file.h"
#include "core/util/tensor_view.h"

namespace qls {

// "__metadata__" entries in the order the header lists them.
using SafetensorsMetadata = std::vector<std::pair<std::string, std::string>>;

// A parsed safetensors image; the views point into the bytes it was parsed from.
struct SafetensorsLayout {
    SafetensorsMetadata metadata;
    std::vector<NamedTensor> tensors;  // header order
};

// Parse and validate a whole safetensors image. `source` (a path) prefixes every error.
// Throws FormatError naming the tensor and field at fault.
SafetensorsLayout parse_safetensors(std::span<const std::byte> bytes, std::string_view source);

class SafetensorsFile {
public:
    // Throws IoError when the file cannot be mapped, FormatError when it is malformed.
    explicit SafetensorsFile(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return m_file->path(); }
    const SafetensorsMetadata& metadata() const { return m_layout.metadata; }
    std::optional<std::string> metadata(std::string_view key) const;
    const std::vector<NamedTensor>& tensors() const { return m_layout.tensors; }
    std::vector<std::string> names() const;  // header order

    bool contains(const std::string& name) const { return m_index.count(name) != 0; }
    const TensorView* find(const std::string& name) const;  // nullptr when absent
    // Throws FormatError naming the file and the tensor when it is absent.
    const TensorView& tensor(const std::string& name) const;
    const std::shared_ptr<const MappedFile>& file() const { return m_file; }

private:
    std::shared_ptr<const MappedFile> m_file;
    SafetensorsLayout m_layout;
    std::unordered_map<std::string, std::size_t> m_index;  // name -> m_layout.tensors index
};

}  // namespace qls
