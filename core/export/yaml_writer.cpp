#include "core/export/yaml_writer.h"

#include <algorithm>

#include "core/util/error.h"

namespace qls {

namespace {

using nlohmann::ordered_json;

void check_key(const std::string& key) {
    const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
    QLS_CHECK(InternalError, plain, "YAML key '", key, "' is not a plain identifier");
}

bool is_block(const ordered_json& v) {
    return (v.is_object() || v.is_array()) && !v.empty();
}

void write_value(const ordered_json& v, int indent, std::string& out);

// "key: scalar" or "key:" followed by the nested block, `indent` spaces in.
void write_object(const ordered_json& v, int indent, bool first_inline, std::string& out) {
    bool first = true;
    for (const auto& [key, item] : v.items()) {
        check_key(key);
        if (!(first && first_inline)) out.append(static_cast<std::size_t>(indent), ' ');
        first = false;
        out += key;
        if (is_block(item)) {
            out += ":\n";
            write_value(item, indent + 2, out);
        } else {
            out += ": " + yaml_scalar(item) + "\n";
        }
    }
}

// "- scalar", or "- key: value" with the item's other keys aligned under the first.
void write_array(const ordered_json& v, int indent, std::string& out) {
    for (const ordered_json& item : v) {
        out.append(static_cast<std::size_t>(indent), ' ');
        out += "- ";
        if (item.is_object() && !item.empty()) {
            write_object(item, indent + 2, true, out);
        } else if (item.is_array() && !item.empty()) {
            out += "\n";
            write_array(item, indent + 2, out);
        } else {
            out += yaml_scalar(item) + "\n";
        }
    }
}

void write_value(const ordered_json& v, int indent, std::string& out) {
    if (v.is_object())
        write_object(v, indent, false, out);
    else
        write_array(v, indent, out);
}

}  // namespace

std::string yaml_scalar(const ordered_json& value) {
    if (value.is_object()) return "{}";
    if (value.is_array()) return "[]";
    if (!value.is_number_float()) return value.dump();  // strings JSON-escaped, ints, bools, null
    std::string s = value.dump();
    QLS_CHECK(InternalError, s != "null", "YAML: cannot write a non-finite number");
    const std::size_t e = s.find_first_of("eE");
    const std::string mantissa = s.substr(0, e);
    std::string exponent = e == std::string::npos ? "" : s.substr(e + 1);
    std::string out = mantissa.find('.') == std::string::npos ? mantissa + ".0" : mantissa;
    if (!exponent.empty()) {
        if (exponent[0] != '-' && exponent[0] != '+') exponent.insert(0, "+");
        out += "e" + exponent;
    }
    return out;
}

std::string to_block_yaml(const ordered_json& value) {
    QLS_CHECK(InternalError, value.is_object(), "YAML: the top level must be an object");
    std::string out;
    write_object(value, 0, false, out);
    return out;
}

}  // namespace qls
