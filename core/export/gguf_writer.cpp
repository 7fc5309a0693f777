// GGUF v3 serialization (formats.md §9.1; ggml src/gguf.cpp gguf_write_to_buf, gguf-py
// gguf_writer.py). Little-endian throughout; strings are u64 length + bytes without NUL.
#include "core/export/gguf_writer.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace qls {

static_assert(std::endian::native == std::endian::little, "GGUF is written as little-endian");

namespace {

constexpr std::uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr std::uint32_t kVersion = 3;
constexpr std::size_t kMaxNameBytes = 63;  // ggml's GGML_MAX_NAME - 1

template <typename T>
void put(std::string& out, T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out.append(buf, sizeof(T));
}

void put_string(std::string& out, std::string_view s) {
    put<std::uint64_t>(out, s.size());
    out.append(s);
}

// Checks that a value's variant alternative fits its declared type.
void check_value(const GgufValue& v, const std::string& key, int depth) {
    QLS_CHECK(ConfigError, depth < 8, "GGUF key '", key, "': arrays nested too deeply");
    bool ok = false;
    switch (v.type) {
        case GgufValueType::U8:
        case GgufValueType::U16:
        case GgufValueType::U32:
        case GgufValueType::U64:
            ok = std::holds_alternative<std::uint64_t>(v.data);
            break;
        case GgufValueType::I8:
        case GgufValueType::I16:
        case GgufValueType::I32:
        case GgufValueType::I64:
            ok = std::holds_alternative<std::int64_t>(v.data);
            break;
        case GgufValueType::F32:
        case GgufValueType::F64:
            ok = std::holds_alternative<double>(v.data);
            break;
        case GgufValueType::Bool:
            ok = std::holds_alternative<bool>(v.data);
            break;
        case GgufValueType::String:
            ok = std::holds_alternative<std::string>(v.data);
            break;
        case GgufValueType::Array: {
            ok = std::holds_alternative<GgufArray>(v.data);
            if (!ok) break;
            const GgufArray& a = std::get<GgufArray>(v.data);
            for (const GgufValue& item : a.items) {
                QLS_CHECK(ConfigError, item.type == a.elem_type, "GGUF key '", key, "': array of ",
                          gguf_value_type_name(a.elem_type), " holds a ", gguf_value_type_name(item.type));
                check_value(item, key, depth + 1);
            }
            break;
        }
    }
    QLS_CHECK(ConfigError, ok, "GGUF key '", key, "': value does not hold a ", gguf_value_type_name(v.type));
}

void put_value(std::string& out, const GgufValue& v) {
    const auto u = [&] { return std::get<std::uint64_t>(v.data); };
    const auto i = [&] { return std::get<std::int64_t>(v.data); };
    switch (v.type) {
        case GgufValueType::U8:
            put<std::uint8_t>(out, std::uint8_t(u()));
            break;
        case GgufValueType::I8:
            put<std::int8_t>(out, std::int8_t(i()));
            break;
        case GgufValueType::U16:
            put<std::uint16_t>(out, std::uint16_t(u()));
            break;
        case GgufValueType::I16:
            put<std::int16_t>(out, std::int16_t(i()));
            break;
        case GgufValueType::U32:
            put<std::uint32_t>(out, std::uint32_t(u()));
            break;
        case GgufValueType::I32:
            put<std::int32_t>(out, std::int32_t(i()));
            break;
        case GgufValueType::U64:
            put<std::uint64_t>(out, u());
            break;
        case GgufValueType::I64:
            put<std::int64_t>(out, i());
            break;
        case GgufValueType::F32:
            put<float>(out, float(std::get<double>(v.data)));
            break;
        case GgufValueType::F64:
            put<double>(out, std::get<double>(v.data));
            break;
        case GgufValueType::Bool:
            put<std::uint8_t>(out, std::get<bool>(v.data) ? 1 : 0);
            break;
        case GgufValueType::String:
            put_string(out, std::get<std::string>(v.data));
            break;
        case GgufValueType::Array: {
            const GgufArray& a = std::get<GgufArray>(v.data);
            put<std::uint32_t>(out, static_cast<std::uint32_t>(a.elem_type));
            put<std::uint64_t>(out, a.items.size());
            for (const GgufValue& item : a.items) put_value(out, item);
            break;
        }
    }
}

std::uint64_t pad_to(std::uint64_t n, std::uint64_t alignment) {
    return (alignment - n % alignment) % alignment;
}

}  // namespace

GgufValue gguf_string_array(const std::vector<std::string>& v) {
    GgufArray a{GgufValueType::String, {}};
    a.items.reserve(v.size());
    for (const std::string& s : v) a.items.push_back({GgufValueType::String, s});
    return {GgufValueType::Array, std::move(a)};
}

GgufWriter::GgufWriter(std::uint32_t alignment) : m_alignment(alignment) {
    QLS_CHECK(ConfigError, alignment > 0 && std::has_single_bit(alignment), "GGUF alignment ", alignment,
              " is not a power of 2");
    if (alignment != 32) set_u32("general.alignment", alignment);
}

void GgufWriter::set(const std::string& key, GgufValue value) {
    QLS_CHECK(ConfigError, !key.empty(), "GGUF metadata key is empty");
    check_value(value, key, 0);
    for (auto& [k, v] : m_kv)
        if (k == key) {
            v = std::move(value);
            return;
        }
    m_kv.emplace_back(key, std::move(value));
}

void GgufWriter::set_u32(const std::string& key, std::uint32_t v) {
    set(key, {GgufValueType::U32, std::uint64_t(v)});
}
void GgufWriter::set_i32(const std::string& key, std::int32_t v) {
    set(key, {GgufValueType::I32, std::int64_t(v)});
}
void GgufWriter::set_u64(const std::string& key, std::uint64_t v) {
    set(key, {GgufValueType::U64, v});
}
void GgufWriter::set_f32(const std::string& key, float v) {
    set(key, {GgufValueType::F32, double(v)});
}
void GgufWriter::set_bool(const std::string& key, bool v) {
    set(key, {GgufValueType::Bool, v});
}
void GgufWriter::set_string(const std::string& key, std::string v) {
    set(key, {GgufValueType::String, std::move(v)});
}
void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& v) {
    set(key, gguf_string_array(v));
}

void GgufWriter::set_f32_array(const std::string& key, std::span<const float> v) {
    GgufArray a{GgufValueType::F32, {}};
    for (float x : v) a.items.push_back({GgufValueType::F32, double(x)});
    set(key, {GgufValueType::Array, std::move(a)});
}

void GgufWriter::set_i32_array(const std::string& key, std::span<const std::int32_t> v) {
    GgufArray a{GgufValueType::I32, {}};
    for (std::int32_t x : v) a.items.push_back({GgufValueType::I32, std::int64_t(x)});
    set(key, {GgufValueType::Array, std::move(a)});
}

void GgufWriter::set_u32_array(const std::string& key, std::span<const std::uint32_t> v) {
    GgufArray a{GgufValueType::U32, {}};
    for (std::uint32_t x : v) a.items.push_back({GgufValueType::U32, std::uint64_t(x)});
    set(key, {GgufValueType::Array, std::move(a)});
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<std::int64_t> ne,
                            GgufTensorData data) {
    QLS_CHECK(ConfigError, !name.empty() && name.size() <= kMaxNameBytes, "GGUF tensor name '", name,
              "' must have 1..", kMaxNameBytes, " bytes");
    for (const Tensor& t : m_tensors)
        QLS_CHECK(ConfigError, t.name != name, "GGUF tensor '", name, "' added twice");
    QLS_CHECK(ConfigError, !ne.empty() && ne.size() <= 4, "GGUF tensor '", name, "': ", ne.size(),
              " dims, expected 1..4");
    const GgmlTypeInfo* info = ggml_type_info(type);
    QLS_CHECK(ConfigError, info != nullptr, "GGUF tensor '", name, "': unknown ggml type ",
              std::uint32_t(type));
    std::uint64_t numel = 1;
    for (std::int64_t n : ne) {
        QLS_CHECK(ConfigError,
                  n > 0 && std::uint64_t(n) <= std::numeric_limits<std::uint64_t>::max() / 16 / numel,
                  "GGUF tensor '", name, "': bad dimensions ", ne);
        numel *= std::uint64_t(n);
    }
    QLS_CHECK(ConfigError, ne[0] % info->block_size == 0, "GGUF tensor '", name, "': row length ", ne[0],
              " is not a multiple of ", info->name, "'s block size ", info->block_size);
    const std::uint64_t n_bytes = numel / info->block_size * info->type_size;
    m_tensors.push_back({name, type, std::move(ne), n_bytes, m_data_size, std::move(data)});
    m_data_size += n_bytes + pad_to(n_bytes, m_alignment);
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<std::int64_t> ne,
                            std::vector<std::byte> bytes) {
    auto shared = std::make_shared<std::vector<std::byte>>(std::move(bytes));
    add_tensor(name, type, std::move(ne), [shared] { return *shared; });
}

std::string GgufWriter::header() const {
    std::string out;
    put<std::uint32_t>(out, kMagic);
    put<std::uint32_t>(out, kVersion);
    put<std::uint64_t>(out, m_tensors.size());
    put<std::uint64_t>(out, m_kv.size());
    for (const auto& [key, value] : m_kv) {
        put_string(out, key);
        put<std::uint32_t>(out, static_cast<std::uint32_t>(value.type));
        put_value(out, value);
    }
    for (const Tensor& t : m_tensors) {
        put_string(out, t.name);
        put<std::uint32_t>(out, std::uint32_t(t.ne.size()));
        for (std::int64_t n : t.ne) put<std::uint64_t>(out, std::uint64_t(n));
        put<std::uint32_t>(out, static_cast<std::uint32_t>(t.type));
        put<std::uint64_t>(out, t.offset);
    }
    out.append(pad_to(out.size(), m_alignment), '\0');
    return out;
}

template <typename Sink>
void GgufWriter::write_to(Sink&& sink, const ProgressFn& progress) const {
    const std::string head = header();
    sink(head.data(), head.size());
    const std::string zeros(m_alignment, '\0');
    for (std::size_t i = 0; i < m_tensors.size(); ++i) {
        const Tensor& t = m_tensors[i];
        const std::vector<std::byte> bytes = t.data();
        QLS_ASSERT(bytes.size() == t.n_bytes, "GGUF tensor '", t.name, "': producer gave ", bytes.size(),
                   " bytes, expected ", t.n_bytes);
        sink(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        sink(zeros.data(), pad_to(t.n_bytes, m_alignment));
        report_progress(progress, i + 1, m_tensors.size());
    }
}

void GgufWriter::write(const std::filesystem::path& path, const ProgressFn& progress) const {
    AtomicFileWriter out(path);
    write_to([&](const char* p, std::size_t n) { out.write({p, n}); }, progress);
    out.commit();
}

std::vector<std::byte> GgufWriter::serialize() const {
    std::vector<std::byte> out;
    write_to(
        [&](const char* p, std::size_t n) {
            const auto* b = reinterpret_cast<const std::byte*>(p);
            out.insert(out.end(), b, b + n);
        },
        {});
    return out;
}

}  // namespace qls
