// Python operators and jinja2.sandbox getattr/getitem: obj.name tries the Python attribute
// (a method) before the dict key, obj[key] tries the key before the attribute, and a miss is
// Undefined except on Undefined itself, which raises (jinja2.runtime.Undefined).
#include <cmath>

#include "core/template/jinja_builtins.h"
#include "core/template/jinja_interpreter.h"
#include "core/template/jinja_text.h"

namespace qls::jinja {

void check_string_size(size_t bytes) {
    if (bytes > kMaxStringBytes)
        throw EvalError(str_cat("the template builds a string of more than ", kMaxStringBytes >> 20,
                                " MiB (a chat template's output is far smaller)"));
}

void check_list_size(size_t items) {
    if (items > kMaxListItems)
        throw EvalError(str_cat("the template builds a list of more than ", kMaxListItems, " items"));
}

namespace {

[[noreturn]] void undefined_error(const Value& v) {
    const std::string& hint = v.undefined_hint();
    throw EvalError(hint.empty() ? "a value is undefined" : hint);
}

Value missing(const Value& obj, const std::string& what) {
    return Value::undefined("'" + obj.type_name() + " object' has no attribute '" + what + "'");
}

Value loop_attribute(const LoopState& l, const std::string& name) {
    const int64_t n = l.length, i = l.index0;
    if (name == "index") return Value(i + 1);
    if (name == "index0") return Value(i);
    if (name == "revindex") return Value(n - i);
    if (name == "revindex0") return Value(n - i - 1);
    if (name == "first") return Value(i == 0);
    if (name == "last") return Value(i == n - 1);
    if (name == "length") return Value(n);
    if (name == "depth") return Value(int64_t{1});
    if (name == "depth0") return Value(int64_t{0});
    if (name == "previtem") return i > 0 ? (*l.items)[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item");
    if (name == "nextitem") return i + 1 < n ? (*l.items)[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item");
    return Value::undefined("'LoopContext object' has no attribute '" + name + "'");
}

// Python slice indices (PySlice_AdjustIndices) over a sequence of length n.
std::vector<size_t> slice_indices(const ListData& s, size_t n) {
    auto part = [](const Value& v, const char* what) -> std::optional<int64_t> {
        if (v.is_none() || v.is_undefined()) return std::nullopt;
        if (!v.is_int() && !v.is_bool()) throw EvalError(str_cat("slice ", what, " must be an integer or None"));
        return v.as_int();
    };
    const auto start = part(s.items[0], "start"), stop = part(s.items[1], "stop"), step_v = part(s.items[2], "step");
    const int64_t step = step_v.value_or(1);
    if (step == 0) throw EvalError("slice step cannot be zero");
    const auto len = static_cast<int64_t>(n);
    auto adjust = [&](std::optional<int64_t> v, int64_t dflt) {
        if (!v) return dflt;
        int64_t x = *v < 0 ? *v + len : *v;
        if (x < 0) x = step < 0 ? -1 : 0;
        if (x >= len) x = step < 0 ? len - 1 : len;
        return x;
    };
    const int64_t b = adjust(start, step < 0 ? len - 1 : 0);
    const int64_t e = adjust(stop, step < 0 ? -1 : len);
    std::vector<size_t> out;
    for (int64_t i = b; step > 0 ? i < e : i > e; i += step) out.push_back(static_cast<size_t>(i));
    return out;
}

void check_overflow(bool overflow) {
    if (overflow) throw EvalError("integer overflow (values beyond 64 bits are not supported)");
}

[[noreturn]] void bad_operands(const std::string& op, const Value& a, const Value& b) {
    throw EvalError(str_cat("unsupported operand type(s) for ", op, ": '", a.type_name(), "' and '", b.type_name(), "'"));
}

Value repeat(const Value& seq, int64_t n) {
    // Sized before anything is built: n may be 10^11.
    const auto times = static_cast<size_t>(std::max<int64_t>(n, 0));
    if (seq.is_string()) {
        if (!seq.str().empty() && times > kMaxStringBytes / seq.str().size()) check_string_size(kMaxStringBytes + 1);
        std::string out;
        for (int64_t i = 0; i < n; ++i) out += seq.str();
        return Value(std::move(out));
    }
    const size_t items = seq.list_data().items.size();
    if (items && times > kMaxListItems / items) check_list_size(kMaxListItems + 1);
    std::vector<Value> out;
    for (int64_t i = 0; i < n; ++i)
        out.insert(out.end(), seq.list_data().items.begin(), seq.list_data().items.end());
    return Value::list(std::move(out), seq.is_tuple());
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
    const bool ints = !a.is_float() && !b.is_float();
    if (op == "/") {
        if (b.as_double() == 0.0) throw EvalError("division by zero");
        return Value(a.as_double() / b.as_double());
    }
    if (ints) {
        const int64_t x = a.as_int(), y = b.as_int();
        int64_t r = 0;
        if (op == "+" || op == "-" || op == "*") {
            check_overflow(op == "+" ? __builtin_add_overflow(x, y, &r)
                           : op == "-" ? __builtin_sub_overflow(x, y, &r)
                                       : __builtin_mul_overflow(x, y, &r));
            return Value(r);
        }
        if (op == "//" || op == "%") {
            if (y == 0) throw EvalError("integer division or modulo by zero");
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                --q;
                m += y;
            }
            return op == "//" ? Value(q) : Value(m);
        }
        if (op == "**" && y >= 0) {
            int64_t acc = 1, base = x;
            for (int64_t e = y; e > 0; e >>= 1) {  // square-and-multiply: 1 ** 10**18 ends quickly
                if (e & 1) check_overflow(__builtin_mul_overflow(acc, base, &acc));
                if (e > 1) check_overflow(__builtin_mul_overflow(base, base, &base));
            }
            return Value(acc);
        }
    }
    const double x = a.as_double(), y = b.as_double();
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (op == "**") return Value(std::pow(x, y));
    if (y == 0.0) throw EvalError("float division or modulo by zero");
    if (op == "//") return Value(std::floor(x / y));
    double m = std::fmod(x, y);
    if (m != 0.0 && ((m < 0) != (y < 0))) m += y;
    return Value(m);
}

}  // namespace

Value get_attribute(const Value& obj, const std::string& name) {
    switch (obj.type()) {
        case Value::Type::Undefined: undefined_error(obj);
        case Value::Type::Dict: {
            Value method = get_method(obj, name);
            if (!method.is_undefined()) return method;
            const Value* v = obj.dict_data().find(std::string_view(name));
            return v ? *v : missing(obj, name);
        }
        case Value::Type::Namespace: {
            const Value* v = obj.ns_data().attrs.find(std::string_view(name));
            return v ? *v : missing(obj, name);
        }
        case Value::Type::Loop: {
            if (name == "cycle") return get_method(obj, name);
            return loop_attribute(obj.loop_state(), name);
        }
        default: {
            Value method = get_method(obj, name);
            return method.is_undefined() ? missing(obj, name) : method;
        }
    }
}

Value get_item(const Value& obj, const Value& key) {
    if (obj.is_undefined()) undefined_error(obj);
    if (obj.is_dict()) {
        if (const Value* v = obj.dict_data().find(key)) return *v;
    } else if (obj.is_list() && !obj.is_generator() && (key.is_int() || key.is_bool())) {
        const auto& items = obj.list_data().items;
        int64_t i = key.as_int();
        if (i < 0) i += static_cast<int64_t>(items.size());
        if (i >= 0 && i < static_cast<int64_t>(items.size())) return items[static_cast<size_t>(i)];
        return Value::undefined(str_cat("'", obj.type_name(), " object' has no element ", key.as_int()));
    } else if (obj.is_string() && (key.is_int() || key.is_bool())) {
        const std::u32string cps = decode_utf8(obj.str());
        int64_t i = key.as_int();
        if (i < 0) i += static_cast<int64_t>(cps.size());
        if (i >= 0 && i < static_cast<int64_t>(cps.size())) return Value(encode_utf8(cps.substr(static_cast<size_t>(i), 1)));
        return Value::undefined("string index out of range");
    }
    if (key.is_string()) {
        Value attr = obj.is_dict() ? get_method(obj, key.str()) : get_attribute(obj, key.str());
        if (!attr.is_undefined()) return attr;
        return missing(obj, key.str());
    }
    return missing(obj, key.to_str());
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
    if (obj.is_undefined()) undefined_error(obj);
    const ListData spec{{start, stop, step}, true};
    if (obj.is_string()) {
        const std::u32string cps = decode_utf8(obj.str());
        std::u32string out;
        for (size_t i : slice_indices(spec, cps.size())) out.push_back(cps[i]);
        return Value(encode_utf8(out));
    }
    if (obj.is_list() && !obj.is_generator()) {
        const auto& items = obj.list_data().items;
        std::vector<Value> out;
        for (size_t i : slice_indices(spec, items.size())) out.push_back(items[i]);
        return Value::list(std::move(out), obj.is_tuple());
    }
    return Value::undefined(str_cat("'", obj.type_name(), "' object is not subscriptable"));
}

Value binary_op(const std::string& op, const Value& a, const Value& b) {
    if (op == "~") {
        std::string s = a.to_str();
        const std::string t = b.to_str();
        check_string_size(s.size() + t.size());
        return Value(s + t);
    }
    if (a.is_undefined()) undefined_error(a);
    if (b.is_undefined()) undefined_error(b);
    if (a.is_number() && b.is_number()) return arithmetic(op, a, b);
    if (op == "+") {
        if (a.is_string() && b.is_string()) {
            check_string_size(a.str().size() + b.str().size());
            return Value(a.str() + b.str());
        }
        if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
            check_list_size(a.list_data().items.size() + b.list_data().items.size());
            std::vector<Value> out = a.list_data().items;
            out.insert(out.end(), b.list_data().items.begin(), b.list_data().items.end());
            return Value::list(std::move(out), a.is_tuple());
        }
    }
    if (op == "*") {
        if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, b.as_int());
        if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, a.as_int());
    }
    if (op == "%" && a.is_string()) throw EvalError("printf-style string formatting ('%') is not supported");
    bad_operands(op, a, b);
}

bool contains(const Value& container, const Value& item) {
    switch (container.type()) {
        case Value::Type::Undefined: return false;
        case Value::Type::String:
            if (!item.is_string())
                throw EvalError(str_cat("'in <string>' requires string as left operand, not ", item.type_name()));
            return container.str().find(item.str()) != std::string::npos;
        case Value::Type::List:
            for (const auto& x : container.list_data().items)
                if (values_equal(x, item)) return true;
            return false;
        case Value::Type::Dict: return container.dict_data().find(item) != nullptr;
        case Value::Type::Namespace: return container.ns_data().attrs.find(item) != nullptr;
        default: throw EvalError(str_cat("argument of type '", container.type_name(), "' is not iterable"));
    }
}

}  // namespace qls::jinja
