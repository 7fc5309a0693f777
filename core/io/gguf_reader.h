// Reader of the GGUF container, versions 2 and 3 (formats.md §9.1). It validates what ggml's
// src/gguf.cpp validates (sizes against the bytes left, n_dims <= 4, element-count overflow,
// known type ids, whole blocks per row, duplicate keys and tensor names) and also that tensor
// data is aligned, inside the file and not overlapping. Every error is a FormatError that
// names the file and the key or tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/io/ggml_type.h"
#include "core/util/mapped_file.h"
#include "core/util/tensor_view.h"

namespace qls {

enum class GgufValueType : std::uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
    String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
};
std::string_view gguf_value_type_name(GgufValueType t);

// For a value an F32 holds exactly, the double nearest the shortest decimal that reads back
// as that float; other values unchanged. GGUF stores settings such as rms_norm_eps = 1e-5 as
// FLOAT32, and this recovers the 1e-5 a config.json would say.
double f32_shortest_decimal(double v);

struct GgufValue;
struct GgufArray {
    GgufValueType elem_type = GgufValueType::U8;
    std::vector<GgufValue> items;
};

// Unsigned integers are held as uint64, signed as int64, F32/F64 as double (exact for F32).
struct GgufValue {
    GgufValueType type = GgufValueType::U8;
    std::variant<std::uint64_t, std::int64_t, double, bool, std::string, GgufArray> data;

    bool is_integer() const;
    bool is_float() const { return type == GgufValueType::F32 || type == GgufValueType::F64; }
};

struct GgufTensorInfo {
    std::string name;
    GgmlType type = GgmlType::F32;
    std::vector<std::int64_t> ne;      // ggml order: ne[0] is the innermost (contiguous) dim
    std::uint64_t offset = 0;          // from the start of the data section
    std::uint64_t n_bytes = 0;
    std::span<const std::byte> data;   // the tensor's bytes inside the file

    std::int64_t numel() const;
    std::int64_t row_length() const { return ne.empty() ? 1 : ne[0]; }
    Shape shape() const;  // PyTorch order: ne reversed
};

class GgufFile {
public:
    // Maps the file. Throws IoError if it cannot be read, FormatError if it is not valid GGUF.
    explicit GgufFile(const std::filesystem::path& path);
    // Parses bytes held in memory; `source` names them in error messages.
    GgufFile(std::vector<std::byte> bytes, std::string source);

    GgufFile(GgufFile&&) noexcept = default;
    GgufFile& operator=(GgufFile&&) noexcept = default;
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;
    ~GgufFile() = default;

    const std::string& source() const { return m_source; }
    std::uint32_t version() const { return m_version; }
    std::uint64_t alignment() const { return m_alignment; }
    std::uint64_t data_offset() const { return m_data_offset; }
    std::span<const std::byte> bytes() const { return m_bytes; }
    // The mapping the tensor data lives in (null for in-memory bytes).
    const std::shared_ptr<const MappedFile>& mapping() const { return m_map; }

    // Metadata in file order.
    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return m_kv; }
    const GgufValue* find(std::string_view key) const;
    bool contains(std::string_view key) const { return find(key) != nullptr; }

    // Typed access: nullopt when the key is absent; FormatError naming the key when it holds
    // another type or a value out of range. Integer getters accept every integer type.
    std::optional<std::int64_t> get_int(std::string_view key) const;
    std::optional<std::uint32_t> get_u32(std::string_view key) const;
    std::optional<double> get_float(std::string_view key) const;  // F32 or F64
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::string> get_string(std::string_view key) const;
    std::optional<std::vector<std::string>> get_string_array(std::string_view key) const;
    std::optional<std::vector<float>> get_f32_array(std::string_view key) const;
    std::optional<std::vector<std::int64_t>> get_int_array(std::string_view key) const;

    // Same, but a missing key is a FormatError naming it.
    std::int64_t require_int(std::string_view key) const;
    double require_float(std::string_view key) const;
    std::string require_string(std::string_view key) const;

    const std::vector<GgufTensorInfo>& tensors() const { return m_tensors; }
    const GgufTensorInfo* find_tensor(std::string_view name) const;
    const GgufTensorInfo& tensor(std::string_view name) const;  // FormatError when missing

    // "GGUF file '<source>': " + message, as every error of this file starts.
    std::string where() const;

private:
    void parse();

    std::string m_source;
    std::shared_ptr<const MappedFile> m_map;
    std::vector<std::byte> m_owned;
    std::span<const std::byte> m_bytes;
    std::uint32_t m_version = 0;
    std::uint64_t m_alignment = 32;
    std::uint64_t m_data_offset = 0;
    std::vector<std::pair<std::string, GgufValue>> m_kv;
    std::map<std::string, std::size_t, std::less<>> m_kv_index;
    std::vector<GgufTensorInfo> m_tensors;
    std::map<std::string, std::size_t, std::less<>> m_tensor_index;
};

}  // namespace qls
