// Typed access to GGUF metadata (formats.md §9.1, §9.3). Integer getters accept every integer
// type because gguf-py writes counts as UINT32 where the spec says UINT64.
#include <charconv>
#include <cmath>
#include <limits>

#include "core/io/gguf_reader.h"
#include "core/util/error.h"

namespace qls {

namespace {

std::optional<std::int64_t> value_as_int(const GgufValue& v) {
    if (const auto* u = std::get_if<std::uint64_t>(&v.data)) {
        if (*u > std::uint64_t(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
        return std::int64_t(*u);
    }
    if (const auto* i = std::get_if<std::int64_t>(&v.data)) return *i;
    return std::nullopt;
}

const GgufArray* array_of(const GgufFile& f, std::string_view key, bool (*elem_ok)(GgufValueType),
                          std::string_view expected) {
    const GgufValue* v = f.find(key);
    if (!v) return nullptr;
    const auto* a = std::get_if<GgufArray>(&v->data);
    QLS_CHECK(FormatError, a && elem_ok(a->elem_type), f.where(), "key '", key, "' has type ",
              gguf_value_type_name(v->type),
              a ? str_cat(" of ", gguf_value_type_name(a->elem_type)) : std::string(), ", expected ",
              expected);
    return a;
}

bool is_integer_type(GgufValueType t) {
    switch (t) {
        case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::U16: case GgufValueType::I16:
        case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::U64: case GgufValueType::I64:
            return true;
        default:
            return false;
    }
}
bool is_float_type(GgufValueType t) { return t == GgufValueType::F32 || t == GgufValueType::F64; }
bool is_string_type(GgufValueType t) { return t == GgufValueType::String; }

}  // namespace

double f32_shortest_decimal(double v) {
    // Only values an F32 can hold exactly; the range check keeps the float cast defined.
    if (!std::isfinite(v) || std::abs(v) > std::numeric_limits<float>::max() || double(float(v)) != v) return v;
    char buf[32];
    const auto end = std::to_chars(buf, buf + sizeof buf, float(v)).ptr;
    double d = v;
    std::from_chars(buf, end, d);  // from_chars, unlike strtod, ignores the C locale
    return d;
}

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = m_kv_index.find(key);
    return it == m_kv_index.end() ? nullptr : &m_kv[it->second].second;
}

std::optional<std::int64_t> GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    QLS_CHECK(FormatError, v->is_integer(), where(), "key '", key, "' has type ",
              gguf_value_type_name(v->type), ", expected an integer");
    const std::optional<std::int64_t> i = value_as_int(*v);
    QLS_CHECK(FormatError, i.has_value(), where(), "key '", key, "' is ", std::get<std::uint64_t>(v->data),
              ", out of the int64 range");
    return i;
}

std::optional<std::uint32_t> GgufFile::get_u32(std::string_view key) const {
    const std::optional<std::int64_t> i = get_int(key);
    if (!i) return std::nullopt;
    QLS_CHECK(FormatError, *i >= 0 && *i <= std::numeric_limits<std::uint32_t>::max(), where(), "key '",
              key, "' is ", *i, ", out of the uint32 range");
    return std::uint32_t(*i);
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    QLS_CHECK(FormatError, v->is_float(), where(), "key '", key, "' has type ",
              gguf_value_type_name(v->type), ", expected FLOAT32 or FLOAT64");
    return std::get<double>(v->data);
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    QLS_CHECK(FormatError, v->type == GgufValueType::Bool, where(), "key '", key, "' has type ",
              gguf_value_type_name(v->type), ", expected BOOL");
    return std::get<bool>(v->data);
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    QLS_CHECK(FormatError, v->type == GgufValueType::String, where(), "key '", key, "' has type ",
              gguf_value_type_name(v->type), ", expected STRING");
    return std::get<std::string>(v->data);
}

std::optional<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
    const GgufArray* a = array_of(*this, key, is_string_type, "an ARRAY of STRING");
    if (!a) return std::nullopt;
    std::vector<std::string> out;
    out.reserve(a->items.size());
    for (const GgufValue& v : a->items) out.push_back(std::get<std::string>(v.data));
    return out;
}

std::optional<std::vector<float>> GgufFile::get_f32_array(std::string_view key) const {
    const GgufArray* a = array_of(*this, key, is_float_type, "an ARRAY of FLOAT32");
    if (!a) return std::nullopt;
    std::vector<float> out;
    out.reserve(a->items.size());
    for (const GgufValue& v : a->items) {
        const double d = std::get<double>(v.data);
        QLS_CHECK(FormatError, !(std::abs(d) > std::numeric_limits<float>::max()) || std::isinf(d), where(), "key '",
                  key, "' element ", out.size(), " is ", d, ", out of the FLOAT32 range");
        out.push_back(float(d));
    }
    return out;
}

std::optional<std::vector<std::int64_t>> GgufFile::get_int_array(std::string_view key) const {
    const GgufArray* a = array_of(*this, key, is_integer_type, "an ARRAY of integers");
    if (!a) return std::nullopt;
    std::vector<std::int64_t> out;
    out.reserve(a->items.size());
    for (std::size_t i = 0; i < a->items.size(); ++i) {
        const std::optional<std::int64_t> x = value_as_int(a->items[i]);
        QLS_CHECK(FormatError, x.has_value(), where(), "key '", key, "' element ", i,
                  " is out of the int64 range");
        out.push_back(*x);
    }
    return out;
}

std::int64_t GgufFile::require_int(std::string_view key) const {
    const auto v = get_int(key);
    QLS_CHECK(FormatError, v.has_value(), where(), "required key '", key, "' is missing");
    return *v;
}

double GgufFile::require_float(std::string_view key) const {
    const auto v = get_float(key);
    QLS_CHECK(FormatError, v.has_value(), where(), "required key '", key, "' is missing");
    return *v;
}

std::string GgufFile::require_string(std::string_view key) const {
    auto v = get_string(key);
    QLS_CHECK(FormatError, v.has_value(), where(), "required key '", key, "' is missing");
    return std::move(*v);
}

}  // namespace qls
