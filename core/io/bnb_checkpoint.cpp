#include "core/io/bnb_checkpoint.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace qls {

namespace {

constexpr std::string_view kQuantStatePrefix = ".quant_state.bitsandbytes__";

std::string quant_state_name(const std::string& weight_name, QuantType t) {
    return weight_name + std::string(kQuantStatePrefix) + std::string(quant_type_name(t));
}

std::string_view torch_dtype_name(DType t) {
    switch (t) {
        case DType::BF16: return "bfloat16";
        case DType::F16: return "float16";
        case DType::F32: return "float32";
        default: throw InternalError(str_cat("bnb: no torch name for dtype ", dtype_name(t)));
    }
}

bool valid_blocksize(std::int64_t b) { return b >= 32 && b <= 4096 && (b & (b - 1)) == 0; }

// Messages: "<file>: tensor '<name>': ...".
struct Where {
    const SafetensorsCheckpoint& ckpt;
    std::string prefix(const std::string& name) const {
        return str_cat(ckpt.file_of(name).string(), ": tensor '", name, "': ");
    }
};

// The parsed quant_state JSON (bnb QuantState.from_dict's non-tensor fields).
struct QuantStateJson {
    QuantType type;
    std::int64_t blocksize;
    DType dtype;
    Shape shape;
    std::int64_t numel;
    bool nested = false;
    std::int64_t nested_blocksize = 0;
    double nested_offset = 0;
};

QuantStateJson parse_quant_state(const TensorView& t, QuantType key_type, const std::string& where) {
    QLS_CHECK(FormatError, t.dtype == DType::U8 && t.shape.size() == 1, where, "expected U8 [len] JSON bytes, got ",
              dtype_name(t.dtype), " ", t.shape);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(std::string_view(reinterpret_cast<const char*>(t.data.data()), t.data.size()));
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(str_cat(where, "quant_state is not valid JSON: ", e.what()));
    }
    QLS_CHECK(FormatError, j.is_object(), where, "quant_state is not a JSON object");
    auto field = [&](const char* key) -> const nlohmann::json& {
        QLS_CHECK(FormatError, j.contains(key), where, "quant_state lacks field '", key, "'");
        return j[key];
    };
    QuantStateJson q;
    const auto& type = field("quant_type");
    QLS_CHECK(FormatError, type == quant_type_name(key_type), where, "quant_state field 'quant_type' is ",
              type.dump(), ", expected \"", quant_type_name(key_type), "\" as the key says");
    q.type = key_type;
    const auto& bs = field("blocksize");
    QLS_CHECK(FormatError, bs.is_number_integer() && valid_blocksize(bs.get<std::int64_t>()), where,
              "quant_state field 'blocksize' is ", bs.dump(), ", expected a power of two in [32, 4096]");
    q.blocksize = bs.get<std::int64_t>();
    const auto& dt = field("dtype");
    if (dt == "bfloat16") q.dtype = DType::BF16;
    else if (dt == "float16") q.dtype = DType::F16;
    else if (dt == "float32") q.dtype = DType::F32;
    else throw FormatError(str_cat(where, "quant_state field 'dtype' is ", dt.dump(),
                                   ", expected \"bfloat16\", \"float16\" or \"float32\""));
    const auto& shape = field("shape");
    QLS_CHECK(FormatError, shape.is_array(), where, "quant_state field 'shape' is not a list");
    q.numel = 1;
    for (const auto& d : shape) {
        QLS_CHECK(FormatError, d.is_number_unsigned() && d.get<std::uint64_t>() <= std::uint64_t(INT64_MAX) &&
                                   !__builtin_mul_overflow(q.numel, d.get<std::int64_t>(), &q.numel),
                  where, "quant_state field 'shape' is ", shape.dump(), ", expected non-negative sizes");
        q.shape.push_back(d.get<std::int64_t>());
    }
    q.nested = j.contains("nested_offset") || j.contains("nested_blocksize");
    if (q.nested) {
        const auto& nbs = field("nested_blocksize");
        QLS_CHECK(FormatError, nbs.is_number_integer() && valid_blocksize(nbs.get<std::int64_t>()), where,
                  "quant_state field 'nested_blocksize' is ", nbs.dump(), ", expected a power of two in [32, 4096]");
        q.nested_blocksize = nbs.get<std::int64_t>();
        const auto& off = field("nested_offset");
        QLS_CHECK(FormatError, off.is_number(), where, "quant_state field 'nested_offset' is not a number");
        q.nested_offset = off.get<double>();
        QLS_CHECK(FormatError, !j.contains("nested_dtype") || j["nested_dtype"] == "float32", where,
                  "quant_state field 'nested_dtype' is ", j["nested_dtype"].dump(), ", expected \"float32\"");
    }
    return q;
}

// A tensor of `weight_name + suffix` with the given dtype and element count.
const TensorView& aux(const SafetensorsCheckpoint& ckpt, const std::string& name, DType dtype, std::int64_t count) {
    const TensorView* t = ckpt.find(name);
    QLS_CHECK(FormatError, t != nullptr, ckpt.file_of(name).string(), ": missing tensor '", name, "'");
    QLS_CHECK(FormatError, t->dtype == dtype && t->numel() == count, Where{ckpt}.prefix(name), "expected ",
              dtype_name(dtype), " with ", count, " elements, got ", dtype_name(t->dtype), " ", t->shape);
    return *t;
}

template <typename T>
std::vector<T> copy_as(const TensorView& t) {
    std::vector<T> out(t.data.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), t.data.data(), t.data.size());
    return out;
}

template <typename T>
OwnedTensor owned(std::string name, DType dtype, Shape shape, const T* data, std::size_t count) {
    OwnedTensor t{std::move(name), dtype, std::move(shape), std::vector<std::byte>(count * sizeof(T))};
    if (count) std::memcpy(t.data.data(), data, count * sizeof(T));
    return t;
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

}  // namespace

std::optional<std::string> bnb_weight_of_quant_state(std::string_view tensor_name) {
    for (QuantType t : {QuantType::NF4, QuantType::FP4}) {
        const std::string suffix = std::string(kQuantStatePrefix) + std::string(quant_type_name(t));
        if (tensor_name.size() > suffix.size() && tensor_name.ends_with(suffix))
            return std::string(tensor_name.substr(0, tensor_name.size() - suffix.size()));
    }
    return std::nullopt;
}

std::vector<std::string> bnb_tensor_names(const std::string& weight_name, QuantType type, bool nested) {
    std::vector<std::string> out = {weight_name, weight_name + ".absmax", weight_name + ".quant_map"};
    if (nested) {
        out.push_back(weight_name + ".nested_absmax");
        out.push_back(weight_name + ".nested_quant_map");
    }
    out.push_back(quant_state_name(weight_name, type));
    return out;
}

Quantized4bit read_bnb_weight(const SafetensorsCheckpoint& ckpt, const std::string& weight_name) {
    const std::string nf4 = quant_state_name(weight_name, QuantType::NF4);
    const std::string fp4 = quant_state_name(weight_name, QuantType::FP4);
    const bool has_nf4 = ckpt.contains(nf4), has_fp4 = ckpt.contains(fp4);
    QLS_CHECK(FormatError, has_nf4 != has_fp4, Where{ckpt}.prefix(weight_name),
              has_nf4 ? "has both an nf4 and an fp4 quant_state" : "has no bitsandbytes quant_state");
    const std::string& qs_name = has_nf4 ? nf4 : fp4;
    const QuantStateJson qs = parse_quant_state(ckpt.tensor(qs_name), has_nf4 ? QuantType::NF4 : QuantType::FP4,
                                                Where{ckpt}.prefix(qs_name));

    Quantized4bit q;
    q.type = qs.type;
    q.blocksize = int(qs.blocksize);
    q.dtype = qs.dtype;
    q.shape = qs.shape;
    const std::int64_t blocks = ceil_div(qs.numel, qs.blocksize);
    const TensorView& packed = ckpt.tensor(weight_name);
    QLS_CHECK(FormatError, packed.dtype == DType::U8, Where{ckpt}.prefix(weight_name), "packed 4-bit data is ",
              dtype_name(packed.dtype), ": only uint8 quant_storage is supported");
    QLS_CHECK(FormatError, packed.numel() == (qs.numel + 1) / 2, Where{ckpt}.prefix(weight_name), "expected ",
              (qs.numel + 1) / 2, " packed bytes for shape ", qs.shape, ", got ", packed.shape);
    q.packed = copy_as<std::uint8_t>(packed);

    const std::string absmax = weight_name + ".absmax";
    const auto& quant_map = aux(ckpt, weight_name + ".quant_map", DType::F32, 16);
    std::memcpy(q.quant_map.data(), quant_map.data.data(), 16 * sizeof(float));
    if (!qs.nested) {
        q.absmax = copy_as<float>(aux(ckpt, absmax, DType::F32, blocks));
        return q;
    }
    NestedAbsmax n;
    n.codes = copy_as<std::uint8_t>(aux(ckpt, absmax, DType::U8, blocks));
    n.absmax = copy_as<float>(aux(ckpt, weight_name + ".nested_absmax", DType::F32, ceil_div(blocks, qs.nested_blocksize)));
    n.code_map = copy_as<float>(aux(ckpt, weight_name + ".nested_quant_map", DType::F32, 256));
    n.offset = static_cast<float>(qs.nested_offset);
    n.blocksize = int(qs.nested_blocksize);
    q.nested = std::move(n);
    return q;
}

std::string python_float_repr(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string s(buf, r.ptr);  // shortest round trip: [-]d[.ddd]e(+|-)XX
    std::string sign;
    if (s[0] == '-') {
        sign = "-";
        s.erase(0, 1);
    }
    const auto e = s.find('e');
    const int exp10 = std::stoi(s.substr(e + 1));
    std::string digits = s.substr(0, e);
    if (digits.size() > 1) digits.erase(1, 1);  // drop the '.'
    const int point = exp10 + 1;  // v = 0.<digits> x 10^point
    const int n = int(digits.size());
    // CPython float_repr_style 'short': fixed notation unless point <= -4 or point > 16.
    if (point > -4 && point <= 16) {
        if (point <= 0) return sign + "0." + std::string(-point, '0') + digits;
        if (point >= n) return sign + digits + std::string(point - n, '0') + ".0";
        return sign + digits.substr(0, point) + "." + digits.substr(point);
    }
    std::string mant = digits.substr(0, 1);
    if (n > 1) mant += "." + digits.substr(1);
    const int a = std::abs(exp10);
    return sign + mant + "e" + (exp10 < 0 ? "-" : "+") + (a < 10 ? "0" : "") + std::to_string(a);
}

std::string bnb_quant_state_json(const Quantized4bit& q) {
    std::string s = str_cat("{\"quant_type\": \"", quant_type_name(q.type), "\", \"blocksize\": ", q.blocksize,
                            ", \"dtype\": \"", torch_dtype_name(q.dtype), "\", \"shape\": ", q.shape);
    if (q.nested)
        s += str_cat(", \"nested_blocksize\": ", q.nested->blocksize, ", \"nested_dtype\": \"float32\", ",
                     "\"nested_offset\": ", python_float_repr(double(q.nested->offset)));
    return s + "}";
}

std::vector<OwnedTensor> bnb_serialize(const std::string& weight_name, const Quantized4bit& q) {
    const std::int64_t packed = (q.numel() + 1) / 2;
    QLS_ASSERT(std::int64_t(q.packed.size()) == packed, "bnb_serialize: ", q.packed.size(), " packed bytes for ",
               q.shape);
    std::vector<OwnedTensor> out;
    out.push_back(owned(weight_name, DType::U8, {packed, 1}, q.packed.data(), q.packed.size()));
    if (q.nested) {
        const NestedAbsmax& n = *q.nested;
        out.push_back(owned(weight_name + ".absmax", DType::U8, {std::int64_t(n.codes.size())}, n.codes.data(),
                            n.codes.size()));
        out.push_back(owned(weight_name + ".nested_absmax", DType::F32, {std::int64_t(n.absmax.size())},
                            n.absmax.data(), n.absmax.size()));
        out.push_back(owned(weight_name + ".nested_quant_map", DType::F32, {std::int64_t(n.code_map.size())},
                            n.code_map.data(), n.code_map.size()));
    } else {
        out.push_back(owned(weight_name + ".absmax", DType::F32, {std::int64_t(q.absmax.size())}, q.absmax.data(),
                            q.absmax.size()));
    }
    out.push_back(owned(weight_name + ".quant_map", DType::F32, {16}, q.quant_map.data(), 16));
    const std::string json = bnb_quant_state_json(q);
    out.push_back(owned(quant_state_name(weight_name, q.type), DType::U8, {std::int64_t(json.size())}, json.data(),
                        json.size()));
    return out;
}

}  // namespace qls
