// Jinja's tests (jinja2/tests.py) and globals (jinja2/defaults.py DEFAULT_NAMESPACE, with the
// sandbox's range limit), plus transformers' raise_exception and strftime_now.
#include <algorithm>
#include <array>
#include <ctime>
#include <iomanip>
#include <locale>
#include <sstream>

#include "core/template/jinja_builtins.h"
#include "core/template/jinja_interpreter.h"
#include "core/template/jinja_text.h"

namespace qls::jinja {
namespace {

using Args = CallArgs;
using In = Interpreter;

Value arg(Args& a, const char* test, const char* name) {
    a.check(test, {name});
    if (!a.has(0, name)) throw EvalError(str_cat("test '", test, "' needs an argument"));
    return a.get(0, name);
}

bool t_boolean(In&, const Value& v, Args& a) { return a.check("boolean", {}), v.is_bool(); }
bool t_callable(In&, const Value& v, Args& a) { return a.check("callable", {}), v.type() == Value::Type::Callable; }
bool t_defined(In&, const Value& v, Args& a) { return a.check("defined", {}), !v.is_undefined(); }
bool t_undefined(In&, const Value& v, Args& a) { return a.check("undefined", {}), v.is_undefined(); }
bool t_none(In&, const Value& v, Args& a) { return a.check("none", {}), v.is_none(); }
bool t_true(In&, const Value& v, Args& a) { return a.check("true", {}), v.is_bool() && v.as_bool(); }
bool t_false(In&, const Value& v, Args& a) { return a.check("false", {}), v.is_bool() && !v.as_bool(); }
bool t_string(In&, const Value& v, Args& a) { return a.check("string", {}), v.is_string(); }
bool t_mapping(In&, const Value& v, Args& a) { return a.check("mapping", {}), v.is_dict(); }
bool t_number(In&, const Value& v, Args& a) { return a.check("number", {}), v.is_number(); }
bool t_integer(In&, const Value& v, Args& a) { return a.check("integer", {}), v.is_int(); }
bool t_float(In&, const Value& v, Args& a) { return a.check("float", {}), v.is_float(); }
bool t_escaped(In&, const Value&, Args& a) { return a.check("escaped", {}), false; }

bool t_iterable(In&, const Value& v, Args& a) {
    a.check("iterable", {});
    return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}

bool t_sequence(In&, const Value& v, Args& a) {
    a.check("sequence", {});
    return v.is_undefined() || v.is_string() || (v.is_list() && !v.is_generator()) || v.is_dict();
}

bool t_lower(In&, const Value& v, Args& a) {
    a.check("lower", {});
    const std::string s = v.to_str();
    return py_lower(s) == s && py_upper(s) != s;
}

bool t_upper(In&, const Value& v, Args& a) {
    a.check("upper", {});
    const std::string s = v.to_str();
    return py_upper(s) == s && py_lower(s) != s;
}

int64_t int_arg(const Value& v, const char* test) {
    if (!v.is_int() && !v.is_bool()) throw EvalError(str_cat("test '", test, "' needs an integer, got ", v.type_name()));
    return v.as_int();
}

bool t_odd(In&, const Value& v, Args& a) { return a.check("odd", {}), (int_arg(v, "odd") % 2) != 0; }
bool t_even(In&, const Value& v, Args& a) { return a.check("even", {}), (int_arg(v, "even") % 2) == 0; }

bool t_divisibleby(In&, const Value& v, Args& a) {
    const Value n = arg(a, "divisibleby", "num");
    return values_equal(binary_op("%", v, n), Value(int64_t{0}));
}

bool t_eq(In&, const Value& v, Args& a) { return values_equal(v, arg(a, "eq", "other")); }
bool t_ne(In&, const Value& v, Args& a) { return !values_equal(v, arg(a, "ne", "other")); }
bool t_lt(In&, const Value& v, Args& a) { return compare_values(v, arg(a, "lt", "other")) < 0; }
bool t_le(In&, const Value& v, Args& a) { return compare_values(v, arg(a, "le", "other")) <= 0; }
bool t_gt(In&, const Value& v, Args& a) { return compare_values(v, arg(a, "gt", "other")) > 0; }
bool t_ge(In&, const Value& v, Args& a) { return compare_values(v, arg(a, "ge", "other")) >= 0; }
bool t_in(In&, const Value& v, Args& a) { return contains(arg(a, "in", "seq"), v); }

// Python "is": identity. Only None, booleans and values of the same container object compare.
bool t_sameas(In&, const Value& v, Args& a) {
    const Value other = arg(a, "sameas", "other");
    if (v.is_none() || other.is_none()) return v.is_none() && other.is_none();
    if (v.is_bool() || other.is_bool()) return v.is_bool() && other.is_bool() && v.as_bool() == other.as_bool();
    if (v.type() != other.type()) return false;
    switch (v.type()) {
        case Value::Type::List: return &v.list_data() == &other.list_data();
        case Value::Type::Dict: return &v.dict_data() == &other.dict_data();
        case Value::Type::Namespace:
        case Value::Type::Loop:
        case Value::Type::Callable: return values_equal(v, other);
        default: throw EvalError("'sameas' on numbers and strings depends on Python object identity; not supported");
    }
}

struct TestEntry {
    const char* name;
    TestFn fn;
};

constexpr std::array kTests = {
    TestEntry{"boolean", t_boolean},   TestEntry{"callable", t_callable}, TestEntry{"defined", t_defined},
    TestEntry{"divisibleby", t_divisibleby}, TestEntry{"eq", t_eq},      TestEntry{"equalto", t_eq},
    TestEntry{"==", t_eq},             TestEntry{"escaped", t_escaped},   TestEntry{"even", t_even},
    TestEntry{"false", t_false},       TestEntry{"float", t_float},       TestEntry{"ge", t_ge},
    TestEntry{">=", t_ge},             TestEntry{"gt", t_gt},             TestEntry{"greaterthan", t_gt},
    TestEntry{">", t_gt},              TestEntry{"in", t_in},             TestEntry{"integer", t_integer},
    TestEntry{"iterable", t_iterable}, TestEntry{"le", t_le},             TestEntry{"<=", t_le},
    TestEntry{"lower", t_lower},       TestEntry{"lt", t_lt},             TestEntry{"lessthan", t_lt},
    TestEntry{"<", t_lt},              TestEntry{"mapping", t_mapping},   TestEntry{"ne", t_ne},
    TestEntry{"!=", t_ne},             TestEntry{"none", t_none},         TestEntry{"number", t_number},
    TestEntry{"odd", t_odd},           TestEntry{"sameas", t_sameas},     TestEntry{"sequence", t_sequence},
    TestEntry{"string", t_string},     TestEntry{"true", t_true},         TestEntry{"undefined", t_undefined},
    TestEntry{"upper", t_upper},
};

// ---- globals ----

Value g_range(In&, Args& a) {
    if (!a.keyword.empty() || a.positional.empty() || a.positional.size() > 3) throw EvalError("range expects 1 to 3 integer arguments");
    for (const auto& v : a.positional)
        if (!v.is_int() && !v.is_bool()) throw EvalError(str_cat("range: '", v.type_name(), "' object cannot be interpreted as an integer"));
    const size_t n = a.positional.size();
    const int64_t start = n == 1 ? 0 : a.positional[0].as_int();
    const int64_t stop = n == 1 ? a.positional[0].as_int() : a.positional[1].as_int();
    const int64_t step = n == 3 ? a.positional[2].as_int() : 1;
    if (step == 0) throw EvalError("range() arg 3 must not be zero");
    std::vector<Value> out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (out.size() >= 100000) throw EvalError("range too big, the sandbox allows at most 100000 items");
        out.emplace_back(i);
    }
    return Value::list(std::move(out));
}

Value g_namespace(In&, Args& a) {
    auto ns = std::make_shared<NamespaceData>();
    for (const auto& v : a.positional) {
        if (!v.is_dict()) throw EvalError("namespace() takes dicts and keyword arguments");
        for (const auto& [k, val] : v.dict_data().entries) ns->attrs.set(k, val);
    }
    for (const auto& [k, v] : a.keyword) ns->attrs.set(Value(k), v);
    return Value::ns(std::move(ns));
}

Value g_dict(In&, Args& a) {
    DictData d;
    for (const auto& v : a.positional) {
        if (!v.is_dict()) throw EvalError("dict() takes a dict and keyword arguments");
        for (const auto& [k, val] : v.dict_data().entries) d.set(k, val);
    }
    for (const auto& [k, v] : a.keyword) d.set(Value(k), v);
    return Value::dict(std::move(d));
}

// transformers: raise jinja2.exceptions.TemplateError(message); the template's own words.
Value g_raise_exception(In&, Args& a) {
    a.check("raise_exception", {"message"});
    throw DataError(a.get(0, "message").to_str());
}

// transformers: datetime.now().strftime(format).
Value g_strftime_now(In& in, Args& a) {
    a.check("strftime_now", {"format"});
    const std::string format = a.get(0, "format").to_str();
    const std::tm tm = in.now();
    // The "C" locale, as Python formats dates (it never sets LC_TIME), whatever the app's locale.
    std::ostringstream os;
    os.imbue(std::locale::classic());
    os << std::put_time(&tm, format.c_str());
    return Value(os.str());
}

}  // namespace

TestFn find_test(std::string_view name) {
    for (const auto& t : kTests)
        if (name == t.name) return t.fn;
    return nullptr;
}

bool apply_test_by_name(Interpreter& in, const std::string& name, const Value& v, CallArgs& args) {
    const TestFn t = find_test(name);
    if (!t) throw EvalError("unsupported test '" + name + "'");
    return t(in, v, args);
}

Value find_global(std::string_view name) {
    if (name == "range") return Value::callable("range", g_range);
    if (name == "namespace") return Value::callable("namespace", g_namespace);
    if (name == "dict") return Value::callable("dict", g_dict);
    if (name == "raise_exception") return Value::callable("raise_exception", g_raise_exception);
    if (name == "strftime_now") return Value::callable("strftime_now", g_strftime_now);
    return {};
}

bool is_unsupported_global(std::string_view name) {
    return name == "lipsum" || name == "cycler" || name == "joiner" || name == "caller";
}

}  // namespace qls::jinja
