// Python methods templates call on values: str (strip, split, startswith, ...), list (count,
// index), dict (items, keys, values, get) and loop.cycle. Only non-mutating methods exist here,
// as in transformers' ImmutableSandboxedEnvironment.
#include <algorithm>
#include <array>

#include "core/template/jinja_builtins.h"
#include "core/template/jinja_interpreter.h"
#include "core/template/jinja_text.h"

namespace qls::jinja {
namespace {

constexpr std::array kStrMethods = {"strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith",
                                    "endswith", "upper", "lower", "title", "capitalize", "replace", "find", "rfind",
                                    "index", "count", "join", "isdigit", "isalpha", "isalnum", "isspace", "islower",
                                    "isupper", "removeprefix", "removesuffix"};
constexpr std::array kListMethods = {"count", "index"};
constexpr std::array kDictMethods = {"items", "keys", "values", "get"};

template <size_t N>
bool has(const std::array<const char*, N>& names, std::string_view name) {
    return std::any_of(names.begin(), names.end(), [&](const char* n) { return name == n; });
}

const std::string& str_arg(const Value& v, std::string_view method) {
    if (!v.is_string()) throw EvalError(str_cat(method, "() argument must be str, not ", v.type_name()));
    return v.str();
}

std::optional<std::string> opt_str_arg(const Value& v, std::string_view method) {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    return str_arg(v, method);
}

// startswith/endswith: a str or a tuple of str.
bool affix_match(const std::string& s, const Value& affix, bool prefix, std::string_view method) {
    auto one = [&](const Value& a) {
        const std::string& x = str_arg(a, method);
        if (x.size() > s.size()) return false;
        return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
    };
    if (affix.is_tuple()) return std::any_of(affix.list_data().items.begin(), affix.list_data().items.end(), one);
    return one(affix);
}

Value string_list(std::vector<std::string> parts) {
    std::vector<Value> out;
    out.reserve(parts.size());
    for (auto& p : parts) out.emplace_back(std::move(p));
    return Value::list(std::move(out));
}

template <typename Pred>
bool all_chars(const std::string& s, Pred pred) {
    if (s.empty()) return false;
    if (!is_ascii(s)) throw EvalError("character classes of non-ASCII text are not supported");
    return std::all_of(s.begin(), s.end(), [&](char c) { return pred(static_cast<unsigned char>(c)); });
}

Value str_method(const std::string& s, std::string_view m, CallArgs& a) {
    if (m == "strip" || m == "lstrip" || m == "rstrip") {
        a.check(m, {"chars"});
        return Value(py_strip(s, opt_str_arg(a.get(0, "chars"), m), m != "rstrip", m != "lstrip"));
    }
    if (m == "split" || m == "rsplit") {
        a.check(m, {"sep", "maxsplit"});
        const auto sep = opt_str_arg(a.get(0, "sep"), m);
        if (sep && sep->empty()) throw EvalError("empty separator");
        const long maxsplit = static_cast<long>(a.get(1, "maxsplit", Value(int64_t{-1})).as_int());
        return string_list(m == "split" ? py_split(s, sep, maxsplit) : py_rsplit(s, sep, maxsplit));
    }
    if (m == "splitlines") {
        a.check(m, {"keepends"});
        return string_list(py_splitlines(s, a.get(0, "keepends", Value(false)).truthy()));
    }
    if (m == "startswith" || m == "endswith") {
        a.check(m, {"prefix"});
        return Value(affix_match(s, a.get(0, "prefix"), m == "startswith", m));
    }
    if (m == "upper") return a.check(m, {}), Value(py_upper(s));
    if (m == "lower") return a.check(m, {}), Value(py_lower(s));
    if (m == "title") return a.check(m, {}), Value(py_title(s));
    if (m == "capitalize") return a.check(m, {}), Value(py_capitalize(s));
    if (m == "replace") {
        a.check(m, {"old", "new", "count"});
        return Value(py_replace(s, str_arg(a.get(0, "old"), m), str_arg(a.get(1, "new"), m),
                                static_cast<long>(a.get(2, "count", Value(int64_t{-1})).as_int())));
    }
    if (m == "find" || m == "rfind" || m == "index") {
        a.check(m, {"sub"});
        const std::string& sub = str_arg(a.get(0, "sub"), m);
        const size_t pos = m == "rfind" ? s.rfind(sub) : s.find(sub);
        if (pos == std::string::npos) {
            if (m == "index") throw EvalError("substring not found");
            return Value(int64_t{-1});
        }
        return Value(static_cast<int64_t>(code_point_count(std::string_view(s).substr(0, pos))));
    }
    if (m == "count") {
        a.check(m, {"sub"});
        const std::string& sub = str_arg(a.get(0, "sub"), m);
        if (sub.empty()) return Value(static_cast<int64_t>(code_point_count(s) + 1));
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
        return Value(n);
    }
    if (m == "join") {
        a.check(m, {"iterable"});
        std::string out;
        bool first = true;
        for (const Value& item : a.get(0, "iterable").iterate()) {
            if (!first) out += s;
            first = false;
            out += str_arg(item, "join");
        }
        return Value(std::move(out));
    }
    if (m == "removeprefix" || m == "removesuffix") {
        a.check(m, {"affix"});
        const std::string& x = str_arg(a.get(0, "affix"), m);
        if (m == "removeprefix") return Value(s.compare(0, x.size(), x) == 0 ? s.substr(x.size()) : s);
        return Value(x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0 ? s.substr(0, s.size() - x.size()) : s);
    }
    a.check(m, {});
    if (m == "isspace") {
        const std::u32string cps = decode_utf8(s);
        return Value(!cps.empty() && std::all_of(cps.begin(), cps.end(), py_isspace));
    }
    if (m == "isdigit") return Value(all_chars(s, [](int c) { return c >= '0' && c <= '9'; }));
    if (m == "isalpha") return Value(all_chars(s, [](int c) { return std::isalpha(c) != 0; }));
    if (m == "isalnum") return Value(all_chars(s, [](int c) { return std::isalnum(c) != 0; }));
    if (m == "islower") return Value(py_lower(s) == s && py_upper(s) != s);
    if (m == "isupper") return Value(py_upper(s) == s && py_lower(s) != s);
    throw EvalError(str_cat("'str' object has no method '", m, "'"));
}

Value list_method(const ListData& l, std::string_view m, CallArgs& a) {
    a.check(m, {"value"});
    const Value x = a.get(0, "value");
    if (m == "count") return Value(static_cast<int64_t>(std::count_if(l.items.begin(), l.items.end(), [&](const Value& v) { return values_equal(v, x); })));
    for (size_t i = 0; i < l.items.size(); ++i)
        if (values_equal(l.items[i], x)) return Value(static_cast<int64_t>(i));
    throw EvalError(str_cat(x.repr(), " is not in list"));
}

Value dict_method(const DictData& d, std::string_view m, CallArgs& a) {
    if (m == "get") {
        a.check(m, {"key", "default"});
        const Value* v = d.find(a.get(0, "key"));
        return v ? *v : a.get(1, "default", Value::none());
    }
    a.check(m, {});
    std::vector<Value> out;
    for (const auto& [k, v] : d.entries) {
        if (m == "items") out.push_back(Value::list({k, v}, true));
        else out.push_back(m == "keys" ? k : v);
    }
    return Value::list(std::move(out));
}

}  // namespace

bool is_known_method(std::string_view name) {
    return has(kStrMethods, name) || has(kListMethods, name) || has(kDictMethods, name) || name == "cycle";
}

Value get_method(const Value& self, std::string_view name) {
    const bool ok = (self.is_string() && has(kStrMethods, name)) || (self.is_list() && !self.is_generator() && has(kListMethods, name)) ||
                    (self.is_dict() && has(kDictMethods, name)) || (self.type() == Value::Type::Loop && name == "cycle");
    if (!ok) return {};
    std::string method(name);
    return Value::callable(method, [self, method](Interpreter&, CallArgs& args) { return call_method(self, method, args); });
}

Value call_method(const Value& self, std::string_view name, CallArgs& args) {
    if (self.is_string() && has(kStrMethods, name)) return str_method(self.str(), name, args);
    if (self.is_list() && !self.is_generator() && has(kListMethods, name)) return list_method(self.list_data(), name, args);
    if (self.is_dict() && has(kDictMethods, name)) return dict_method(self.dict_data(), name, args);
    if (self.type() == Value::Type::Loop && name == "cycle") {
        if (args.positional.empty()) throw EvalError("no items for cycling given");
        const auto i = static_cast<size_t>(self.loop_state().index0) % args.positional.size();
        return args.positional[i];
    }
    throw EvalError(str_cat("'", self.type_name(), "' object has no attribute '", name, "'"));
}

}  // namespace qls::jinja
