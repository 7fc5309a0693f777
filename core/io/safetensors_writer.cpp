#include "core/io/safetensors_writer.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "core/util/atomic_file.h"
#include "core/util/error.h"

namespace qls {

namespace {

// Position in safetensors' Rust `Dtype` enum (tensor.rs), whose derived Ord the writer sorts
// by; F8/F4/F6/C64 sit between these but we never write them.
int rust_dtype_rank(DType t) {
    switch (t) {
        case DType::BOOL: return 0;
        case DType::U8: return 4;
        case DType::I8: return 5;
        case DType::I16: return 11;
        case DType::U16: return 12;
        case DType::F16: return 13;
        case DType::BF16: return 14;
        case DType::I32: return 15;
        case DType::U32: return 16;
        case DType::F32: return 17;
        case DType::F64: return 19;
        case DType::I64: return 20;
        case DType::U64: return 21;
    }
    throw InternalError(str_cat("safetensors writer: unknown dtype ", int(t)));
}

// serde_json's string escaping: quote, backslash and control characters only; \u00xx in
// lower-case hex for the controls without a short form.
void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (const char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

struct Prepared {
    std::string header;                  // padded JSON
    std::vector<const NamedTensor*> order;  // data order
};

Prepared prepare(const std::vector<NamedTensor>& tensors, const SafetensorsMetadata& metadata) {
    Prepared p;
    std::set<std::string_view> seen;
    for (const auto& t : tensors) {
        QLS_ASSERT(t.name != "__metadata__" && seen.insert(t.name).second,
                   "safetensors writer: duplicate or reserved tensor name '", t.name, "'");
        QLS_ASSERT(t.view.data.size() == std::size_t(t.view.numel()) * dtype_size(t.view.dtype),
                   "safetensors writer: tensor '", t.name, "' has ", t.view.data.size(), " bytes for ",
                   dtype_name(t.view.dtype), " ", t.view.shape);
        p.order.push_back(&t);
    }
    std::sort(p.order.begin(), p.order.end(), [](const NamedTensor* a, const NamedTensor* b) {
        const int ra = rust_dtype_rank(a->view.dtype), rb = rust_dtype_rank(b->view.dtype);
        return ra != rb ? ra > rb : a->name < b->name;
    });

    std::string& h = p.header;
    h += '{';
    if (!metadata.empty()) {
        h += "\"__metadata__\":{";
        for (std::size_t i = 0; i < metadata.size(); ++i) {
            if (i) h += ',';
            append_json_string(h, metadata[i].first);
            h += ':';
            append_json_string(h, metadata[i].second);
        }
        h += '}';
    }
    std::size_t offset = 0;
    for (const NamedTensor* t : p.order) {
        if (h.size() > 1) h += ',';
        append_json_string(h, t->name);
        h += ":{\"dtype\":\"";
        h += dtype_name(t->view.dtype);
        h += "\",\"shape\":[";
        for (std::size_t i = 0; i < t->view.shape.size(); ++i) {
            if (i) h += ',';
            h += std::to_string(t->view.shape[i]);
        }
        const std::size_t end = offset + t->view.data.size();
        h += "],\"data_offsets\":[" + std::to_string(offset) + ',' + std::to_string(end) + "]}";
        offset = end;
    }
    h += '}';
    h.resize((h.size() + 7) / 8 * 8, ' ');
    return p;
}

std::string length_prefix(std::size_t n) {
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((std::uint64_t(n) >> (8 * i)) & 0xff);
    return out;
}

std::string_view as_chars(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

void write_safetensors_ordered(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                               const SafetensorsMetadata& metadata) {
    const Prepared p = prepare(tensors, metadata);
    AtomicFileWriter out(path);
    out.write(length_prefix(p.header.size()));
    out.write(p.header);
    for (const NamedTensor* t : p.order) out.write(as_chars(t->view.data));
    out.commit();
}

void write_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    write_safetensors_ordered(path, tensors, SafetensorsMetadata(metadata.begin(), metadata.end()));
}

std::string serialize_safetensors(const std::vector<NamedTensor>& tensors, const SafetensorsMetadata& metadata) {
    const Prepared p = prepare(tensors, metadata);
    std::string out = length_prefix(p.header.size()) + p.header;
    for (const NamedTensor* t : p.order) out += as_chars(t->view.data);
    return out;
}

std::vector<NamedTensor> named_views(const std::vector<OwnedTensor>& tensors) {
    std::vector<NamedTensor> out;
    out.reserve(tensors.size());
    for (const auto& t : tensors) out.push_back({t.name, t.view()});
    return out;
}

}  // namespace qls
