#include "core/inspect/stored_types.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace qls {

namespace {

std::string type_of(const Weight& w) {
    if (w.gguf_type) {
        const GgmlTypeInfo* info = ggml_type_info(*w.gguf_type);
        return info ? std::string(info->name) : "ggml type " + std::to_string(static_cast<std::uint32_t>(*w.gguf_type));
    }
    if (w.quantized) {
        std::string name = w.quantized->type == QuantType::FP4 ? "FP4" : "NF4";
        return w.quantized->nested ? name + " + double quant" : name;
    }
    return std::string(dtype_name(w.view.dtype));
}

std::string share(std::int64_t part, std::int64_t whole) {
    const double percent = 100.0 * double(part) / double(whole);
    if (percent < 0.05) return "<0.1%";  // "0.0%" would read as none
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f%%", percent);
    return buf;
}

}  // namespace

std::vector<StoredType> stored_types(const ModelWeights& weights) {
    std::map<std::string, StoredType> by_name;
    for (const auto& [name, w] : weights.tensors) {
        StoredType& t = by_name[type_of(w)];
        ++t.tensors;
        t.params += numel(w.shape);
    }
    std::vector<StoredType> out;
    for (auto& [name, t] : by_name) {
        t.name = name;
        out.push_back(std::move(t));
    }
    std::stable_sort(out.begin(), out.end(), [](const StoredType& a, const StoredType& b) { return a.params > b.params; });
    return out;
}

std::string stored_types_text(const std::vector<StoredType>& types) {
    if (types.size() == 1) return types.front().name;
    std::int64_t whole = 0;
    for (const StoredType& t : types) whole += t.params;
    std::string text;
    for (const StoredType& t : types) {
        if (!text.empty()) text += ", ";
        text += t.name + " (" + share(t.params, whole) + ")";
    }
    return text;
}

}  // namespace qls
