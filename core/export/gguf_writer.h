// Writer of the GGUF container, version 3 (formats.md §9.1), laid out as ggml's gguf_write and
// gguf-py's GGUFWriter do: header, metadata in insertion order, tensor infos, zero padding to
// ALIGNMENT, then each tensor's data padded to ALIGNMENT. Tensor data is produced one tensor at
// a time while writing, so a model never has to sit in memory whole.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/io/gguf_reader.h"
#include "core/util/progress.h"

namespace qls {

// Returns a tensor's bytes (exactly its size in its ggml type), called once while writing.
using GgufTensorData = std::function<std::vector<std::byte>()>;

class GgufWriter {
public:
    // alignment: a power of two; anything but 32 is also written as general.alignment.
    explicit GgufWriter(std::uint32_t alignment = 32);

    // Appends a key (or replaces its value in place). Array values must hold items of their
    // elem_type (nested arrays allowed). Throws ConfigError for a bad value or an empty key.
    void set(const std::string& key, GgufValue value);
    void set_u32(const std::string& key, std::uint32_t v);
    void set_i32(const std::string& key, std::int32_t v);
    void set_u64(const std::string& key, std::uint64_t v);
    void set_f32(const std::string& key, float v);
    void set_bool(const std::string& key, bool v);
    void set_string(const std::string& key, std::string v);
    void set_string_array(const std::string& key, const std::vector<std::string>& v);
    void set_f32_array(const std::string& key, std::span<const float> v);
    void set_i32_array(const std::string& key, std::span<const std::int32_t> v);
    void set_u32_array(const std::string& key, std::span<const std::uint32_t> v);

    // ne in ggml order (ne[0] innermost). Throws ConfigError for a duplicate or overlong name
    // (ggml's limit: 63 bytes), more than 4 dims, or rows that are not whole blocks.
    void add_tensor(const std::string& name, GgmlType type, std::vector<std::int64_t> ne,
                    GgufTensorData data);
    void add_tensor(const std::string& name, GgmlType type, std::vector<std::int64_t> ne,
                    std::vector<std::byte> bytes);

    std::size_t tensor_count() const { return m_tensors.size(); }
    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return m_kv; }

    // Writes atomically (temp file, then rename); progress is called after each tensor.
    // Throws IoError, or InternalError when a producer returns the wrong number of bytes.
    void write(const std::filesystem::path& path, const ProgressFn& progress = {}) const;
    // The whole file in memory (small files and tests).
    std::vector<std::byte> serialize() const;

private:
    struct Tensor {
        std::string name;
        GgmlType type;
        std::vector<std::int64_t> ne;
        std::uint64_t n_bytes;
        std::uint64_t offset;  // from the data section's start
        GgufTensorData data;
    };
    std::string header() const;  // everything before the data section, padding included
    template <typename Sink>
    void write_to(Sink&& sink, const ProgressFn& progress) const;

    std::uint32_t m_alignment;
    std::vector<std::pair<std::string, GgufValue>> m_kv;
    std::vector<Tensor> m_tensors;
    std::uint64_t m_data_size = 0;
};

// Scalar and array GgufValue builders.
GgufValue gguf_string_array(const std::vector<std::string>& v);

}  // namespace qls
