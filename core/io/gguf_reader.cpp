// Parsing of the GGUF header, metadata and tensor infos (formats.md §9.1). Sizes read from the
// file are checked against the bytes left before anything is allocated from them.
#include "core/io/gguf_reader.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>

#include "core/util/error.h"

namespace qls {

static_assert(std::endian::native == std::endian::little, "GGUF is read as little-endian");

namespace {

constexpr std::uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr int kMaxArrayDepth = 8;
constexpr std::uint32_t kMaxDims = 4;

// Smallest encoding of one value of a type, to bound counts by the bytes left.
std::uint64_t min_encoded_size(GgufValueType t) {
    switch (t) {
        case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::Bool: return 1;
        case GgufValueType::U16: case GgufValueType::I16: return 2;
        case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::F32: return 4;
        case GgufValueType::String: case GgufValueType::U64: case GgufValueType::I64:
        case GgufValueType::F64: return 8;
        case GgufValueType::Array: return 12;
    }
    return 1;
}

std::string hex_bytes(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02x %02x %02x %02x", v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24);
    return buf;
}

class Cursor {
public:
    Cursor(std::span<const std::byte> bytes, std::string where) : m_bytes(bytes), m_where(std::move(where)) {}

    std::uint64_t pos() const { return m_pos; }
    std::uint64_t left() const { return m_bytes.size() - m_pos; }
    const std::string& where() const { return m_where; }

    void need(std::uint64_t n, std::string_view what) const {
        QLS_CHECK(FormatError, n <= left(), m_where, "truncated while reading ", what, ": need ", n,
                  " bytes at offset ", m_pos, ", only ", left(), " left");
    }
    template <typename T>
    T read(std::string_view what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, m_bytes.data() + m_pos, sizeof(T));
        m_pos += sizeof(T);
        return v;
    }
    std::string read_string(std::string_view what) {
        const auto len = read<std::uint64_t>(what);
        QLS_CHECK(FormatError, len <= left(), m_where, what, ": string length ", len,
                  " exceeds the ", left(), " bytes left in the file");
        std::string s(reinterpret_cast<const char*>(m_bytes.data() + m_pos), len);
        m_pos += len;
        return s;
    }
    // Reads a u64 count of elements of at least min_size bytes each.
    std::uint64_t read_count(std::string_view what, std::uint64_t min_size) {
        const auto n = read<std::uint64_t>(what);
        QLS_CHECK(FormatError, n <= left() / min_size, m_where, what, ": count ", n,
                  " cannot fit in the ", left(), " bytes left in the file");
        return n;
    }

private:
    std::span<const std::byte> m_bytes;
    std::string m_where;
    std::uint64_t m_pos = 0;
};

GgufValueType read_value_type(Cursor& c, std::string_view what) {
    const auto t = c.read<std::uint32_t>(what);
    QLS_CHECK(FormatError, t <= static_cast<std::uint32_t>(GgufValueType::F64), c.where(), what,
              ": unknown GGUF value type ", t);
    return static_cast<GgufValueType>(t);
}

GgufValue read_value(Cursor& c, GgufValueType type, const std::string& what, int depth) {
    GgufValue v;
    v.type = type;
    switch (type) {
        case GgufValueType::U8: v.data = std::uint64_t(c.read<std::uint8_t>(what)); break;
        case GgufValueType::I8: v.data = std::int64_t(c.read<std::int8_t>(what)); break;
        case GgufValueType::U16: v.data = std::uint64_t(c.read<std::uint16_t>(what)); break;
        case GgufValueType::I16: v.data = std::int64_t(c.read<std::int16_t>(what)); break;
        case GgufValueType::U32: v.data = std::uint64_t(c.read<std::uint32_t>(what)); break;
        case GgufValueType::I32: v.data = std::int64_t(c.read<std::int32_t>(what)); break;
        case GgufValueType::U64: v.data = c.read<std::uint64_t>(what); break;
        case GgufValueType::I64: v.data = c.read<std::int64_t>(what); break;
        case GgufValueType::F32: v.data = double(c.read<float>(what)); break;
        case GgufValueType::F64: v.data = c.read<double>(what); break;
        case GgufValueType::Bool: v.data = c.read<std::uint8_t>(what) != 0; break;  // as ggml: nonzero
        case GgufValueType::String: v.data = c.read_string(what); break;
        case GgufValueType::Array: {
            QLS_CHECK(FormatError, depth < kMaxArrayDepth, c.where(), what, ": arrays nested deeper than ",
                      kMaxArrayDepth, " levels");
            GgufArray a;
            a.elem_type = read_value_type(c, what);
            const std::uint64_t n = c.read_count(what, min_encoded_size(a.elem_type));
            a.items.reserve(n);
            for (std::uint64_t i = 0; i < n; ++i) a.items.push_back(read_value(c, a.elem_type, what, depth + 1));
            v.data = std::move(a);
            break;
        }
    }
    return v;
}

// Element count of ne, or nullopt when it does not fit in int64.
std::optional<std::int64_t> checked_numel(const std::vector<std::int64_t>& ne) {
    std::int64_t n = 1;
    for (std::int64_t d : ne) {
        if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d) return std::nullopt;
        n *= d;
    }
    return n;
}

GgufTensorInfo read_tensor_info(Cursor& c, std::uint64_t index) {
    GgufTensorInfo t;
    t.name = c.read_string(str_cat("the name of tensor #", index));
    const std::string what = str_cat("tensor '", t.name, "'");
    QLS_CHECK(FormatError, !t.name.empty(), c.where(), "tensor #", index, " has an empty name");
    const auto n_dims = c.read<std::uint32_t>(what);
    QLS_CHECK(FormatError, n_dims <= kMaxDims, c.where(), what, " has ", n_dims,
              " dimensions, at most ", kMaxDims, " are allowed");
    for (std::uint32_t d = 0; d < n_dims; ++d) {
        const auto n = c.read<std::uint64_t>(what);
        QLS_CHECK(FormatError, n <= std::uint64_t(std::numeric_limits<std::int64_t>::max()), c.where(),
                  what, " dimension ", d, " has an invalid size ", n);
        t.ne.push_back(std::int64_t(n));
    }
    const std::optional<std::int64_t> numel = checked_numel(t.ne);
    QLS_CHECK(FormatError, numel.has_value(), c.where(), what, " has ne ", t.ne,
              " whose element count overflows int64");
    const auto type_id = c.read<std::uint32_t>(what);
    const GgmlTypeInfo* info = ggml_type_info(type_id);
    QLS_CHECK(FormatError, info != nullptr, c.where(), what, " has unknown ggml type id ", type_id);
    t.type = static_cast<GgmlType>(type_id);
    QLS_CHECK(FormatError, t.row_length() % info->block_size == 0, c.where(), what, " of type ",
              info->name, " has rows of ", t.row_length(), " elements, not a multiple of the block size ",
              info->block_size);
    const std::uint64_t blocks = std::uint64_t(*numel) / info->block_size;
    QLS_CHECK(FormatError, blocks <= std::numeric_limits<std::uint64_t>::max() / info->type_size,
              c.where(), what, " is too large: ", blocks, " blocks of ", info->type_size, " bytes");
    t.n_bytes = blocks * info->type_size;
    t.offset = c.read<std::uint64_t>(what);
    return t;
}

}  // namespace

std::string_view gguf_value_type_name(GgufValueType t) {
    static constexpr std::string_view kNames[] = {"UINT8", "INT8",  "UINT16", "INT16", "UINT32",
                                                  "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY",
                                                  "UINT64", "INT64", "FLOAT64"};
    const auto i = static_cast<std::uint32_t>(t);
    return i < std::size(kNames) ? kNames[i] : "UNKNOWN";
}

bool GgufValue::is_integer() const {
    return std::holds_alternative<std::uint64_t>(data) || std::holds_alternative<std::int64_t>(data);
}

std::int64_t GgufTensorInfo::numel() const {
    return std::accumulate(ne.begin(), ne.end(), std::int64_t(1), std::multiplies<>());
}

Shape GgufTensorInfo::shape() const { return Shape(ne.rbegin(), ne.rend()); }

GgufFile::GgufFile(const std::filesystem::path& path)
    : m_source(path.string()), m_map(std::make_shared<const MappedFile>(path)) {
    m_bytes = m_map->bytes();
    parse();
}

GgufFile::GgufFile(std::vector<std::byte> bytes, std::string source)
    : m_source(std::move(source)), m_owned(std::move(bytes)) {
    m_bytes = m_owned;
    parse();
}

std::string GgufFile::where() const { return str_cat("GGUF file '", m_source, "': "); }

void GgufFile::parse() {
    Cursor c(m_bytes, where());
    const auto magic = c.read<std::uint32_t>("the magic");
    QLS_CHECK(FormatError, magic == kMagic, where(), "bad magic ", hex_bytes(magic),
              ", expected 47 47 55 46 (\"GGUF\")");
    m_version = c.read<std::uint32_t>("the version");
    QLS_CHECK(FormatError, m_version != 1, where(), "GGUF version 1 is not supported (only 2 and 3)");
    QLS_CHECK(FormatError, m_version == 2 || m_version == 3, where(), "unsupported GGUF version ",
              m_version, " (expected 2 or 3; a big-endian file reads as a huge version)");
    const std::uint64_t n_tensors = c.read_count("the tensor count", 24);
    const std::uint64_t n_kv = c.read_count("the metadata count", 13);

    m_kv.reserve(n_kv);
    for (std::uint64_t i = 0; i < n_kv; ++i) {
        std::string key = c.read_string(str_cat("the key of metadata entry #", i));
        QLS_CHECK(FormatError, !key.empty(), where(), "metadata entry #", i, " has an empty key");
        QLS_CHECK(FormatError, m_kv_index.count(key) == 0, where(), "duplicate key '", key, "'");
        const std::string what = str_cat("key '", key, "'");
        const GgufValueType type = read_value_type(c, what);
        GgufValue value = read_value(c, type, what, 0);
        m_kv_index.emplace(key, m_kv.size());
        m_kv.emplace_back(std::move(key), std::move(value));
    }

    if (const auto a = get_u32("general.alignment")) {
        QLS_CHECK(FormatError, *a != 0 && (*a & (*a - 1)) == 0, where(),
                  "key 'general.alignment' is ", *a, ", not a power of 2");
        m_alignment = *a;
    }

    m_tensors.reserve(n_tensors);
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensorInfo t = read_tensor_info(c, i);
        QLS_CHECK(FormatError, m_tensor_index.count(t.name) == 0, where(), "duplicate tensor name '",
                  t.name, "'");
        m_tensor_index.emplace(t.name, m_tensors.size());
        m_tensors.push_back(std::move(t));
    }

    // The data section starts at the next multiple of the alignment (zero padding before it).
    const std::uint64_t end_of_infos = c.pos();
    m_data_offset = end_of_infos + (m_alignment - end_of_infos % m_alignment) % m_alignment;
    if (m_tensors.empty()) return;
    QLS_CHECK(FormatError, m_data_offset <= m_bytes.size(), where(), "truncated: the data section starts at ",
              m_data_offset, " but the file has ", m_bytes.size(), " bytes");
    const std::uint64_t data_size = m_bytes.size() - m_data_offset;
    for (GgufTensorInfo& t : m_tensors) {
        QLS_CHECK(FormatError, t.offset % m_alignment == 0, where(), "tensor '", t.name, "' has offset ",
                  t.offset, ", not a multiple of the alignment ", m_alignment);
        QLS_CHECK(FormatError, t.offset <= data_size && t.n_bytes <= data_size - t.offset, where(),
                  "tensor '", t.name, "' (offset ", t.offset, ", ", t.n_bytes,
                  " bytes) lies beyond the end of the data section (", data_size, " bytes)");
        t.data = m_bytes.subspan(m_data_offset + t.offset, t.n_bytes);
    }
    // Sorted by offset, each non-empty tensor must start at or after the end of all before it.
    std::vector<const GgufTensorInfo*> by_offset;
    for (const GgufTensorInfo& t : m_tensors)
        if (t.n_bytes > 0) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const auto* a, const auto* b) { return a->offset < b->offset; });
    const GgufTensorInfo* furthest = nullptr;
    for (const GgufTensorInfo* cur : by_offset) {
        QLS_CHECK(FormatError, !furthest || furthest->offset + furthest->n_bytes <= cur->offset, where(),
                  "tensor '", cur->name, "' at offset ", cur->offset, " overlaps tensor '", furthest->name,
                  "' (offset ", furthest->offset, ", ", furthest->n_bytes, " bytes)");
        if (!furthest || cur->offset + cur->n_bytes > furthest->offset + furthest->n_bytes) furthest = cur;
    }
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    auto it = m_tensor_index.find(name);
    return it == m_tensor_index.end() ? nullptr : &m_tensors[it->second];
}

const GgufTensorInfo& GgufFile::tensor(std::string_view name) const {
    const GgufTensorInfo* t = find_tensor(name);
    QLS_CHECK(FormatError, t != nullptr, where(), "tensor '", name, "' is missing");
    return *t;
}

}  // namespace qls
