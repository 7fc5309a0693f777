// Jinja's built-in filters (jinja2/filters.py, Jinja 3.1) that chat templates use, plus
// transformers' tojson override (json.dumps with ensure_ascii=False, chat_template_utils.py).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/template/jinja_builtins.h"
#include "core/template/jinja_interpreter.h"
#include "core/template/jinja_text.h"

namespace qls::jinja {
namespace {

// A width given by the template (indent=, tojson's indent): bounded like any string it builds.
size_t padding(int64_t width) {
    const auto n = static_cast<size_t>(std::max<int64_t>(width, 0));
    check_string_size(n);
    return n;
}

using Args = CallArgs;
using In = Interpreter;

int64_t length_of(const Value& v) {
    switch (v.type()) {
        case Value::Type::Undefined: return 0;
        case Value::Type::String: return static_cast<int64_t>(code_point_count(v.str()));
        case Value::Type::List:
            if (v.is_generator()) break;
            return static_cast<int64_t>(v.list_data().items.size());
        case Value::Type::Dict: return static_cast<int64_t>(v.dict_data().entries.size());
        default: break;
    }
    throw EvalError(str_cat("object of type '", v.type_name(), "' has no len()"));
}

std::optional<std::string> optional_str(const Value& v) {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    return v.to_str();
}

// environment.getitem along a dotted path ("a.b", "0"), as make_attrgetter does.
Value attribute_path(const Value& item, const std::string& path, const Value& dflt = {}) {
    Value v = item;
    size_t start = 0;
    while (start <= path.size()) {
        const size_t dot = path.find('.', start);
        const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
        v = digits ? get_item(v, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(v, Value(part));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    if (v.is_undefined() && !dflt.is_undefined()) return dflt;
    return v;
}

// The sort key of an item: attribute, then lower-cased unless case sensitive.
Value sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
    Value v = attribute.is_undefined() || attribute.is_none() ? item : attribute_path(item, attribute.to_str());
    if (!case_sensitive && v.is_string()) return Value(py_lower(v.str()));
    return v;
}

Value f_abs(In&, const Value& v, Args& a) {
    a.check("abs", {});
    if (v.is_float()) return Value(std::fabs(v.as_double()));
    if (v.is_int() || v.is_bool()) return binary_op("*", Value(v.as_int() < 0 ? int64_t{-1} : int64_t{1}), Value(v.as_int()));
    throw EvalError(str_cat("bad operand type for abs(): '", v.type_name(), "'"));
}

Value f_attr(In&, const Value& v, Args& a) {
    a.check("attr", {"name"});
    const std::string name = a.get(0, "name").to_str();
    return v.is_dict() ? (get_method(v, name).is_undefined() ? Value::undefined("no attribute '" + name + "'") : get_method(v, name))
                       : get_attribute(v, name);
}

Value f_capitalize(In&, const Value& v, Args& a) {
    a.check("capitalize", {});
    return Value(py_capitalize(v.to_str()));
}

Value f_length(In&, const Value& v, Args& a) {
    a.check("length", {});
    return Value(length_of(v));
}

Value f_default(In&, const Value& v, Args& a) {
    a.check("default", {"default_value", "boolean"});
    const bool boolean = a.get(1, "boolean", Value(false)).truthy();
    if (v.is_undefined() || (boolean && !v.truthy())) return a.get(0, "default_value", Value(std::string()));
    return v;
}

Value f_dictsort(In&, const Value& v, Args& a) {
    a.check("dictsort", {"case_sensitive", "by", "reverse"});
    if (!v.is_dict()) throw EvalError("dictsort: expected a dict, got " + v.type_name());
    const bool cs = a.get(0, "case_sensitive", Value(false)).truthy();
    const std::string by = a.get(1, "by", Value("key")).to_str();
    if (by != "key" && by != "value") throw EvalError("dictsort: 'by' must be 'key' or 'value'");
    const int pos = by == "key" ? 0 : 1;
    std::vector<Value> items;
    for (const auto& [k, val] : v.dict_data().entries) items.push_back(Value::list({k, val}, true));
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
        return compare_values(sort_key(x.list_data().items[pos], {}, cs), sort_key(y.list_data().items[pos], {}, cs)) < 0;
    });
    if (a.get(2, "reverse", Value(false)).truthy()) std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
}

Value f_escape(In&, const Value& v, Args& a) {
    a.check("escape", {});
    std::string out;
    for (char c : v.to_str()) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return Value(std::move(out));
}

Value f_first(In&, const Value& v, Args& a) {
    a.check("first", {});
    const std::vector<Value> items = v.iterate();
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(In&, const Value& v, Args& a) {
    a.check("last", {});
    const std::vector<Value> items = v.iterate();
    return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

// Python float(str): optional whitespace, sign, digits with single underscores, inf/nan.
std::optional<double> parse_py_float(std::string s) {
    s = py_strip(s, std::nullopt, true, true);
    std::string clean;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '_') {
            if (i == 0 || i + 1 == s.size() || !std::isdigit(static_cast<unsigned char>(s[i - 1])) ||
                !std::isdigit(static_cast<unsigned char>(s[i + 1])))
                return std::nullopt;
            continue;
        }
        clean += s[i];
    }
    if (clean.empty() || clean.find_first_of("xXpP") != std::string::npos) return std::nullopt;
    char* end = nullptr;
    const double d = std::strtod(clean.c_str(), &end);
    if (end != clean.c_str() + clean.size()) return std::nullopt;
    return d;
}

Value f_float(In&, const Value& v, Args& a) {
    a.check("float", {"default"});
    if (v.is_number()) return Value(v.as_double());
    if (v.is_string())
        if (auto d = parse_py_float(v.str())) return Value(*d);
    return a.get(0, "default", Value(0.0));
}

Value f_int(In&, const Value& v, Args& a) {
    a.check("int", {"default", "base"});
    const Value dflt = a.get(0, "default", Value(int64_t{0}));
    if (v.is_int() || v.is_bool()) return Value(v.as_int());
    if (v.is_float()) {
        if (!std::isfinite(v.as_double())) return dflt;
        return Value(static_cast<int64_t>(std::trunc(v.as_double())));
    }
    if (!v.is_string()) return dflt;
    const int base = static_cast<int>(a.get(1, "base", Value(int64_t{10})).as_int());
    const std::string s = py_strip(v.str(), std::nullopt, true, true);
    if (!s.empty() && s.find('_') == std::string::npos) {
        char* end = nullptr;
        errno = 0;
        const long long x = std::strtoll(s.c_str(), &end, base);
        if (end == s.c_str() + s.size() && errno == 0) return Value(static_cast<int64_t>(x));
    }
    if (auto d = parse_py_float(s); d && std::isfinite(*d)) return Value(static_cast<int64_t>(std::trunc(*d)));
    return dflt;
}

Value f_items(In&, const Value& v, Args& a) {
    a.check("items", {});
    if (v.is_undefined()) return Value::list({});
    if (!v.is_dict()) throw EvalError("Can only get item pairs from a mapping.");
    std::vector<Value> items;
    for (const auto& [k, val] : v.dict_data().entries) items.push_back(Value::list({k, val}, true));
    return Value::list(std::move(items));
}

Value f_join(In&, const Value& v, Args& a) {
    a.check("join", {"d", "attribute"});
    const std::string sep = a.get(0, "d", Value(std::string())).to_str();
    const Value attribute = a.get(1, "attribute");
    std::string out;
    bool first = true;
    for (const Value& item : v.iterate()) {
        if (!first) out += sep;
        first = false;
        out += (attribute.is_undefined() || attribute.is_none() ? item : attribute_path(item, attribute.to_str())).to_str();
    }
    return Value(std::move(out));
}

Value f_list(In&, const Value& v, Args& a) {
    a.check("list", {});
    return Value::list(v.iterate());
}

Value f_lower(In&, const Value& v, Args& a) {
    a.check("lower", {});
    return Value(py_lower(v.to_str()));
}

Value f_upper(In&, const Value& v, Args& a) {
    a.check("upper", {});
    return Value(py_upper(v.to_str()));
}

Value f_title(In&, const Value& v, Args& a) {
    a.check("title", {});
    return Value(jinja_title(v.to_str()));
}

Value f_map(In& in, const Value& v, Args& a) {
    std::vector<Value> out;
    const bool by_attribute = std::any_of(a.keyword.begin(), a.keyword.end(), [](const auto& kv) { return kv.first == "attribute"; });
    if (by_attribute) {
        a.check("map", {"attribute", "default"});
        const std::string attr = a.get(99, "attribute").to_str();
        const Value dflt = a.get(99, "default");
        for (const Value& item : v.iterate()) out.push_back(attribute_path(item, attr, dflt));
        return Value::generator(std::move(out));
    }
    if (a.positional.empty()) throw EvalError("map requires a filter name or attribute=");
    const std::string name = a.positional[0].to_str();
    Args rest;
    rest.positional.assign(a.positional.begin() + 1, a.positional.end());
    rest.keyword = a.keyword;
    for (const Value& item : v.iterate()) {
        Args copy = rest;
        out.push_back(apply_filter_by_name(in, name, item, copy));
    }
    return Value::generator(std::move(out));
}

Value select_impl(In& in, const Value& v, Args& a, bool by_attribute, bool keep_if) {
    size_t next = 0;
    std::string attr;
    if (by_attribute) {
        if (a.positional.empty()) throw EvalError("selectattr/rejectattr require an attribute name");
        attr = a.positional[next++].to_str();
    }
    std::string test;
    if (next < a.positional.size()) test = a.positional[next++].to_str();
    Args test_args;
    test_args.positional.assign(a.positional.begin() + static_cast<long>(next), a.positional.end());
    test_args.keyword = a.keyword;
    std::vector<Value> out;
    for (const Value& item : v.iterate()) {
        const Value subject = by_attribute ? attribute_path(item, attr) : item;
        Args copy = test_args;
        const bool pass = test.empty() ? subject.truthy() : apply_test_by_name(in, test, subject, copy);
        if (pass == keep_if) out.push_back(item);
    }
    return Value::generator(std::move(out));
}

Value f_select(In& in, const Value& v, Args& a) { return select_impl(in, v, a, false, true); }
Value f_reject(In& in, const Value& v, Args& a) { return select_impl(in, v, a, false, false); }
Value f_selectattr(In& in, const Value& v, Args& a) { return select_impl(in, v, a, true, true); }
Value f_rejectattr(In& in, const Value& v, Args& a) { return select_impl(in, v, a, true, false); }

Value min_max(const Value& v, Args& a, bool want_max) {
    a.check(want_max ? "max" : "min", {"case_sensitive", "attribute"});
    const bool cs = a.get(0, "case_sensitive", Value(false)).truthy();
    const Value attribute = a.get(1, "attribute");
    const std::vector<Value> items = v.iterate();
    if (items.empty()) return Value::undefined(str_cat("No aggregated item, sequence was empty."));
    const Value* best = &items[0];
    for (const Value& item : items) {
        const int c = compare_values(sort_key(item, attribute, cs), sort_key(*best, attribute, cs));
        if (want_max ? c > 0 : c < 0) best = &item;
    }
    return *best;
}

Value f_max(In&, const Value& v, Args& a) { return min_max(v, a, true); }
Value f_min(In&, const Value& v, Args& a) { return min_max(v, a, false); }

Value f_replace(In&, const Value& v, Args& a) {
    a.check("replace", {"old", "new", "count"});
    const Value count = a.get(2, "count");
    const long n = count.is_undefined() || count.is_none() ? -1 : static_cast<long>(count.as_int());
    return Value(py_replace(v.to_str(), a.get(0, "old").to_str(), a.get(1, "new").to_str(), n));
}

Value f_reverse(In&, const Value& v, Args& a) {
    a.check("reverse", {});
    if (v.is_string()) {
        std::u32string cps = decode_utf8(v.str());
        std::reverse(cps.begin(), cps.end());
        return Value(encode_utf8(cps));
    }
    // reversed() of a list, tuple or dict is an iterator; anything else becomes a reversed list.
    const bool iterator = v.is_list() || v.is_dict();
    std::vector<Value> items = v.iterate();
    std::reverse(items.begin(), items.end());
    return iterator ? Value::generator(std::move(items)) : Value::list(std::move(items));
}

Value f_round(In&, const Value& v, Args& a) {
    a.check("round", {"precision", "method"});
    const int64_t precision = a.get(0, "precision", Value(int64_t{0})).as_int();
    const std::string method = a.get(1, "method", Value("common")).to_str();
    if (!v.is_number()) throw EvalError("round: expected a number, got " + v.type_name());
    if (precision < 0) throw EvalError("round: a negative precision is not supported");
    const double x = v.as_double();
    if (method == "common") {
        // Python round(): correctly rounded, ties to even, via the exact decimal expansion.
        char buf[512];
        std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::clamp<int64_t>(precision, 0, 300)), x);
        return Value(std::strtod(buf, nullptr));
    }
    const double scale = std::pow(10.0, static_cast<double>(precision));
    if (method == "ceil") return Value(std::ceil(x * scale) / scale);
    if (method == "floor") return Value(std::floor(x * scale) / scale);
    throw EvalError("round: method must be 'common', 'ceil' or 'floor'");
}

Value f_safe(In&, const Value& v, Args& a) {
    a.check("safe", {});
    return Value(v.to_str());
}

Value f_sort(In&, const Value& v, Args& a) {
    a.check("sort", {"reverse", "case_sensitive", "attribute"});
    const bool reverse = a.get(0, "reverse", Value(false)).truthy();
    const bool cs = a.get(1, "case_sensitive", Value(false)).truthy();
    const Value attribute = a.get(2, "attribute");
    std::vector<Value> items = v.iterate();
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
        const int c = compare_values(sort_key(x, attribute, cs), sort_key(y, attribute, cs));
        return reverse ? c > 0 : c < 0;
    });
    return Value::list(std::move(items));
}

Value f_string(In&, const Value& v, Args& a) {
    a.check("string", {});
    return Value(v.to_str());
}

Value f_sum(In&, const Value& v, Args& a) {
    a.check("sum", {"attribute", "start"});
    const Value attribute = a.get(0, "attribute");
    Value total = a.get(1, "start", Value(int64_t{0}));
    for (const Value& item : v.iterate())
        total = binary_op("+", total, attribute.is_undefined() || attribute.is_none() ? item : attribute_path(item, attribute.to_str()));
    return total;
}

Value f_tojson(In&, const Value& v, Args& a) {
    a.check("tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
    JsonDumpOptions o;
    o.ensure_ascii = a.get(0, "ensure_ascii", Value(false)).truthy();
    const Value indent = a.get(1, "indent", Value::none());
    if (indent.is_string()) o.indent = indent.str();
    else if (indent.is_int()) o.indent = std::string(padding(indent.as_int()), ' ');
    else if (!indent.is_none()) throw EvalError("tojson: indent must be an int, a string or None");
    if (o.indent) o.item_separator = ",";
    const Value seps = a.get(2, "separators", Value::none());
    if (seps.is_list() && seps.list_data().items.size() == 2) {
        o.item_separator = seps.list_data().items[0].to_str();
        o.key_separator = seps.list_data().items[1].to_str();
    } else if (!seps.is_none()) {
        throw EvalError("tojson: separators must be a pair of strings");
    }
    o.sort_keys = a.get(3, "sort_keys", Value(false)).truthy();
    return Value(json_dumps(v, o));
}

Value f_trim(In&, const Value& v, Args& a) {
    a.check("trim", {"chars"});
    return Value(py_strip(v.to_str(), optional_str(a.get(0, "chars")), true, true));
}

Value f_unique(In&, const Value& v, Args& a) {
    a.check("unique", {"case_sensitive", "attribute"});
    const bool cs = a.get(0, "case_sensitive", Value(false)).truthy();
    const Value attribute = a.get(1, "attribute");
    std::vector<Value> out, seen;
    for (const Value& item : v.iterate()) {
        const Value key = sort_key(item, attribute, cs);
        if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return values_equal(s, key); })) {
            seen.push_back(key);
            out.push_back(item);
        }
    }
    return Value::generator(std::move(out));
}

Value f_indent(In&, const Value& v, Args& a) {
    a.check("indent", {"width", "first", "blank"});
    const Value width = a.get(0, "width", Value(int64_t{4}));
    const std::string pad = width.is_string() ? width.str() : std::string(padding(width.as_int()), ' ');
    const bool first = a.get(1, "first", Value(false)).truthy();
    const bool blank = a.get(2, "blank", Value(false)).truthy();
    const std::vector<std::string> lines = py_splitlines(v.to_str() + "\n", false);
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i) out += "\n";
        if (i > 0 && (blank || !lines[i].empty())) out += pad;
        out += lines[i];
    }
    if (first) out = pad + out;
    return Value(std::move(out));
}

struct FilterEntry {
    const char* name;
    FilterFn fn;
};

constexpr std::array kFilters = {
    FilterEntry{"abs", f_abs},           FilterEntry{"attr", f_attr},          FilterEntry{"capitalize", f_capitalize},
    FilterEntry{"count", f_length},      FilterEntry{"d", f_default},          FilterEntry{"default", f_default},
    FilterEntry{"dictsort", f_dictsort}, FilterEntry{"e", f_escape},           FilterEntry{"escape", f_escape},
    FilterEntry{"first", f_first},       FilterEntry{"float", f_float},        FilterEntry{"indent", f_indent},
    FilterEntry{"int", f_int},           FilterEntry{"items", f_items},        FilterEntry{"join", f_join},
    FilterEntry{"last", f_last},         FilterEntry{"length", f_length},      FilterEntry{"list", f_list},
    FilterEntry{"lower", f_lower},       FilterEntry{"map", f_map},            FilterEntry{"max", f_max},
    FilterEntry{"min", f_min},           FilterEntry{"reject", f_reject},      FilterEntry{"rejectattr", f_rejectattr},
    FilterEntry{"replace", f_replace},   FilterEntry{"reverse", f_reverse},    FilterEntry{"round", f_round},
    FilterEntry{"safe", f_safe},         FilterEntry{"select", f_select},      FilterEntry{"selectattr", f_selectattr},
    FilterEntry{"sort", f_sort},         FilterEntry{"string", f_string},      FilterEntry{"sum", f_sum},
    FilterEntry{"title", f_title},       FilterEntry{"tojson", f_tojson},      FilterEntry{"trim", f_trim},
    FilterEntry{"unique", f_unique},     FilterEntry{"upper", f_upper},
};

constexpr std::array kUnsupportedJinja = {"batch", "center", "filesizeformat", "forceescape", "format", "groupby",
                                          "pprint", "random", "slice", "striptags", "truncate", "urlencode", "urlize",
                                          "wordcount", "wordwrap", "xmlattr"};

}  // namespace

FilterFn find_filter(std::string_view name) {
    for (const auto& f : kFilters)
        if (name == f.name) return f.fn;
    return nullptr;
}

bool is_unsupported_jinja_filter(std::string_view name) {
    return std::find(kUnsupportedJinja.begin(), kUnsupportedJinja.end(), name) != kUnsupportedJinja.end();
}

Value apply_filter_by_name(Interpreter& in, const std::string& name, const Value& v, CallArgs& args) {
    const FilterFn f = find_filter(name);
    if (!f) throw EvalError("unsupported filter '" + name + "'");
    return f(in, v, args);
}

}  // namespace qls::jinja
