#include "core/io/safetensors_reader.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace qls {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::uint64_t kMaxHeaderSize = 100'000'000;
// The header nests at most {"name": {"shape": [..]}}: anything deeper is malformed.
constexpr int kMaxDepth = 3;

// safetensors dtypes that exist but that no Llama-family checkpoint we load uses.
constexpr std::string_view kUnsupportedDtypes[] = {
    "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "C64", "F4", "F6_E2M3", "F6_E3M2"};

struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    std::uint64_t begin;
    std::uint64_t end;
};

// nlohmann keeps the last of duplicate keys silently; the format forbids them, so the parse
// callback tracks the keys of every open object.
Json parse_header_json(std::string_view text, std::string_view source) {
    std::vector<std::unordered_set<std::string>> open_objects;
    auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
        switch (event) {
            case Json::parse_event_t::object_start:
            case Json::parse_event_t::array_start:
                QLS_CHECK(FormatError, depth < kMaxDepth, source,
                          ": header nests deeper than a safetensors header can");
                if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
                break;
            case Json::parse_event_t::object_end:
                open_objects.pop_back();
                break;
            case Json::parse_event_t::key: {
                const auto& key = parsed.get_ref<const std::string&>();
                QLS_CHECK(FormatError, open_objects.back().insert(key).second, source,
                          ": duplicate key '", key, "' in the header");
                break;
            }
            default:
                break;
        }
        return true;
    };
    try {
        return Json::parse(text.begin(), text.end(), callback);
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(str_cat(source, ": header is not valid JSON: ", e.what()));
    }
}

std::uint64_t read_u64_le(const std::byte* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
    return v;
}

DType parse_dtype(const Json& j, const std::string& name, std::string_view source) {
    QLS_CHECK(FormatError, j.is_string(), source, ": tensor '", name,
              "': field 'dtype' is not a string");
    const auto& s = j.get_ref<const std::string&>();
    if (auto t = dtype_from_name(s)) return *t;
    const bool known = std::find(std::begin(kUnsupportedDtypes), std::end(kUnsupportedDtypes), s) !=
                       std::end(kUnsupportedDtypes);
    throw FormatError(str_cat(source, ": tensor '", name, "': ", known ? "unsupported" : "unknown",
                              " dtype '", s, "'"));
}

std::uint64_t parse_uint(const Json& j, const std::string& name, std::string_view field,
                         std::size_t index, std::string_view source) {
    QLS_CHECK(FormatError, j.is_number_unsigned(), source, ": tensor '", name, "': field '", field,
              "': element ", index, " is ", j.dump(), ", expected a non-negative integer");
    return j.get<std::uint64_t>();
}

Entry parse_entry(const std::string& name, const Json& j, std::string_view source) {
    QLS_CHECK(FormatError, j.is_object(), source, ": tensor '", name,
              "': expected an object with dtype, shape and data_offsets, got ", j.type_name());
    for (const char* field : {"dtype", "shape", "data_offsets"})
        QLS_CHECK(FormatError, j.contains(field), source, ": tensor '", name, "': missing field '",
                  field, "'");
    Entry e{name, parse_dtype(j["dtype"], name, source), {}, 0, 0};

    const Json& shape = j["shape"];
    QLS_CHECK(FormatError, shape.is_array(), source, ": tensor '", name,
              "': field 'shape' is not an array");
    std::int64_t count = 1;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        const std::uint64_t d = parse_uint(shape[i], name, "shape", i, source);
        QLS_CHECK(FormatError,
                  d <= std::uint64_t(std::numeric_limits<std::int64_t>::max()) &&
                      !__builtin_mul_overflow(count, std::int64_t(d), &count),
                  source, ": tensor '", name, "': field 'shape': element count overflows");
        e.shape.push_back(std::int64_t(d));
    }

    const Json& offsets = j["data_offsets"];
    QLS_CHECK(FormatError, offsets.is_array() && offsets.size() == 2, source, ": tensor '", name,
              "': field 'data_offsets' is not a [begin, end] pair");
    e.begin = parse_uint(offsets[0], name, "data_offsets", 0, source);
    e.end = parse_uint(offsets[1], name, "data_offsets", 1, source);
    QLS_CHECK(FormatError, e.begin <= e.end, source, ": tensor '", name, "': data_offsets [",
              e.begin, ", ", e.end, "]: begin is after end");

    std::uint64_t bytes = 0;
    QLS_CHECK(FormatError, !__builtin_mul_overflow(std::uint64_t(count), dtype_size(e.dtype), &bytes),
              source, ": tensor '", name, "': byte size overflows");
    QLS_CHECK(FormatError, e.end - e.begin == bytes, source, ": tensor '", name, "': data_offsets [",
              e.begin, ", ", e.end, "] hold ", e.end - e.begin, " bytes, but ", dtype_name(e.dtype),
              " ", e.shape, " needs ", bytes);
    return e;
}

SafetensorsMetadata parse_metadata(const Json& j, std::string_view source) {
    QLS_CHECK(FormatError, j.is_object(), source, ": '__metadata__' is not an object");
    SafetensorsMetadata out;
    for (const auto& [key, value] : j.items()) {
        QLS_CHECK(FormatError, value.is_string(), source, ": '__metadata__' field '", key,
                  "' is not a string");
        out.emplace_back(key, value.get<std::string>());
    }
    return out;
}

// Sorted by begin, the tensors must cover [0, buffer_size) exactly.
void check_tiling(std::vector<const Entry*> sorted, std::uint64_t buffer_size, std::string_view source) {
    std::stable_sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    std::uint64_t pos = 0;
    const Entry* prev = nullptr;
    for (const Entry* e : sorted) {
        QLS_CHECK(FormatError, e->begin >= pos, source, ": tensor '", e->name, "': data_offsets [",
                  e->begin, ", ", e->end, "] overlap tensor '", prev ? prev->name : "", "' ending at ", pos);
        QLS_CHECK(FormatError, e->begin == pos, source, ": tensor '", e->name, "': data_offsets [",
                  e->begin, ", ", e->end, "] leave a hole of ", e->begin - pos, " bytes after ",
                  prev ? "tensor '" + prev->name + "'" : std::string("the header"));
        pos = e->end;
        prev = e;
    }
    QLS_CHECK(FormatError, pos == buffer_size, source, ": the tensors cover ", pos,
              " bytes of a data buffer of ", buffer_size, " bytes");
}

}  // namespace

SafetensorsLayout parse_safetensors(std::span<const std::byte> bytes, std::string_view source) {
    QLS_CHECK(FormatError, bytes.size() >= 8, source, ": file of ", bytes.size(),
              " bytes is too short for a safetensors header length");
    const std::uint64_t n = read_u64_le(bytes.data());
    QLS_CHECK(FormatError, n <= kMaxHeaderSize, source, ": header length ", n,
              " exceeds the limit of ", kMaxHeaderSize, " bytes");
    QLS_CHECK(FormatError, n <= bytes.size() - 8, source, ": header length ", n,
              " goes beyond the end of the file (", bytes.size(), " bytes)");
    const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), n);
    QLS_CHECK(FormatError, !text.empty() && text.front() == '{', source,
              ": header does not start with '{'");
    const Json header = parse_header_json(text, source);
    QLS_CHECK(FormatError, header.is_object(), source, ": header is not a JSON object");

    const std::uint64_t buffer_size = bytes.size() - 8 - n;
    SafetensorsLayout layout;
    std::vector<Entry> entries;
    entries.reserve(header.size());
    for (const auto& [key, value] : header.items()) {
        if (key == "__metadata__") {
            layout.metadata = parse_metadata(value, source);
            continue;
        }
        entries.push_back(parse_entry(key, value, source));
        const Entry& e = entries.back();
        QLS_CHECK(FormatError, e.end <= buffer_size, source, ": tensor '", e.name, "': data_offsets [",
                  e.begin, ", ", e.end, "] go beyond the data buffer of ", buffer_size, " bytes");
    }
    std::vector<const Entry*> order;
    for (const auto& e : entries) order.push_back(&e);
    check_tiling(std::move(order), buffer_size, source);

    const auto buffer = bytes.subspan(8 + n);
    layout.tensors.reserve(entries.size());
    for (auto& e : entries)
        layout.tensors.push_back(
            {std::move(e.name), TensorView{e.dtype, std::move(e.shape), buffer.subspan(e.begin, e.end - e.begin)}});
    return layout;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : m_file(std::make_shared<const MappedFile>(path)),
      m_layout(parse_safetensors(m_file->bytes(), path.string())) {
    for (std::size_t i = 0; i < m_layout.tensors.size(); ++i) m_index.emplace(m_layout.tensors[i].name, i);
}

std::optional<std::string> SafetensorsFile::metadata(std::string_view key) const {
    for (const auto& [k, v] : m_layout.metadata)
        if (k == key) return v;
    return std::nullopt;
}

std::vector<std::string> SafetensorsFile::names() const {
    std::vector<std::string> out;
    out.reserve(m_layout.tensors.size());
    for (const auto& t : m_layout.tensors) out.push_back(t.name);
    return out;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
    auto it = m_index.find(name);
    return it == m_index.end() ? nullptr : &m_layout.tensors[it->second].view;
}

const TensorView& SafetensorsFile::tensor(const std::string& name) const {
    const TensorView* t = find(name);
    QLS_CHECK(FormatError, t != nullptr, path().string(), ": tensor '", name, "' is missing");
    return *t;
}

}  // namespace qls
