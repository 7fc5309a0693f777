// json.dumps (Python's json/encoder.py) for transformers' tojson filter: float repr, NaN and
// Infinity spelled as Python does, keys coerced to strings, indent and separators honoured.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/template/jinja_builtins.h"
#include "core/template/jinja_text.h"

namespace qls::jinja {
namespace {

void append_ascii_json_string(std::string& out, std::string_view s) {
    std::string plain;
    append_json_string(plain, s);
    for (char32_t c : decode_utf8(plain)) {
        if (c < 0x80) {
            out += static_cast<char>(c);
            continue;
        }
        auto unit = [&](unsigned u) {
            char buf[16];
            std::snprintf(buf, sizeof buf, "\\u%04x", u);
            out += buf;
        };
        if (c >= 0x10000) {
            const unsigned v = static_cast<unsigned>(c) - 0x10000;
            unit(0xD800 + (v >> 10));
            unit(0xDC00 + (v & 0x3FF));
        } else {
            unit(static_cast<unsigned>(c));
        }
    }
}

std::string float_json(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
    return py_float_repr(d);
}

class JsonWriter {
public:
    explicit JsonWriter(const JsonDumpOptions& o) : m_o(o) {}

    void write(std::string& out, const Value& v, int level) {
        switch (v.type()) {
            case Value::Type::None: out += "null"; return;
            case Value::Type::Bool: out += v.as_bool() ? "true" : "false"; return;
            case Value::Type::Int: out += std::to_string(v.as_int()); return;
            case Value::Type::Float: out += float_json(v.as_double()); return;
            case Value::Type::String: string(out, v.str()); return;
            case Value::Type::List: list(out, v.list_data().items, level); return;
            case Value::Type::Dict: dict(out, v.dict_data(), level); return;
            default: throw EvalError(str_cat("Object of type ", v.type_name(), " is not JSON serializable"));
        }
    }

private:
    void string(std::string& out, std::string_view s) const {
        if (m_o.ensure_ascii) append_ascii_json_string(out, s);
        else append_json_string(out, s);
    }

    void newline(std::string& out, int level) const {
        if (!m_o.indent) return;
        out += '\n';
        for (int i = 0; i < level; ++i) out += *m_o.indent;
    }

    void list(std::string& out, const std::vector<Value>& items, int level) {
        if (items.empty()) {
            out += "[]";
            return;
        }
        out += '[';
        for (size_t i = 0; i < items.size(); ++i) {
            if (i) out += m_o.item_separator;
            newline(out, level + 1);
            write(out, items[i], level + 1);
        }
        newline(out, level);
        out += ']';
    }

    static std::string key_string(const Value& k) {
        switch (k.type()) {
            case Value::Type::String: return k.str();
            case Value::Type::None: return "null";
            case Value::Type::Bool: return k.as_bool() ? "true" : "false";
            case Value::Type::Int: return std::to_string(k.as_int());
            case Value::Type::Float: return float_json(k.as_double());
            default: throw EvalError(str_cat("keys must be str, int, float, bool or None, not ", k.type_name()));
        }
    }

    void dict(std::string& out, const DictData& d, int level) {
        if (d.entries.empty()) {
            out += "{}";
            return;
        }
        std::vector<const std::pair<Value, Value>*> entries;
        for (const auto& e : d.entries) entries.push_back(&e);
        if (m_o.sort_keys)
            std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return compare_values(a->first, b->first) < 0; });
        out += '{';
        for (size_t i = 0; i < entries.size(); ++i) {
            if (i) out += m_o.item_separator;
            newline(out, level + 1);
            string(out, key_string(entries[i]->first));
            out += m_o.key_separator;
            write(out, entries[i]->second, level + 1);
        }
        newline(out, level);
        out += '}';
    }

    const JsonDumpOptions& m_o;
};

}  // namespace

std::string json_dumps(const Value& v, const JsonDumpOptions& options) {
    std::string out;
    JsonWriter(options).write(out, v, 0);
    return out;
}

}  // namespace qls::jinja
