// Python object semantics for Jinja values: str(), repr(), truthiness, ==, < and iteration,
// as jinja2 gets them from the Python objects transformers passes to the template.
#include "core/template/jinja_value.h"

#include <algorithm>

#include "core/template/jinja_text.h"

namespace qls::jinja {

const Value* DictData::find(const Value& key) const {
    if (key.is_string()) return find(std::string_view(key.str()));
    for (const auto& [k, v] : entries)
        if (values_equal(k, key)) return &v;
    return nullptr;
}

const Value* DictData::find(std::string_view key) const {
    for (const auto& [k, v] : entries)
        if (k.is_string() && k.str() == key) return &v;
    return nullptr;
}

void DictData::set(Value key, Value value) {
    for (auto& [k, v] : entries) {
        if (values_equal(k, key)) {
            v = std::move(value);
            return;
        }
    }
    entries.emplace_back(std::move(key), std::move(value));
}

Value Value::undefined(std::string hint) {
    Value v;
    if (!hint.empty()) v.m_str = std::make_shared<const std::string>(std::move(hint));
    return v;
}

Value Value::none() {
    Value v;
    v.m_type = Type::None;
    return v;
}

Value::Value(bool b) : m_type(Type::Bool), m_bool(b) {}
Value::Value(int64_t i) : m_type(Type::Int), m_int(i) {}
Value::Value(double d) : m_type(Type::Float), m_float(d) {}
Value::Value(std::string s) : m_type(Type::String), m_str(std::make_shared<const std::string>(std::move(s))) {}

Value Value::list(std::vector<Value> items, bool tuple) {
    Value v;
    v.m_type = Type::List;
    v.m_list = std::make_shared<const ListData>(ListData{std::move(items), tuple});
    return v;
}

Value Value::generator(std::vector<Value> items) {
    Value v;
    v.m_type = Type::List;
    v.m_list = std::make_shared<const ListData>(ListData{std::move(items), false, true});
    return v;
}

Value Value::dict(DictData d) {
    Value v;
    v.m_type = Type::Dict;
    v.m_dict = std::make_shared<const DictData>(std::move(d));
    return v;
}

Value Value::ns(std::shared_ptr<NamespaceData> n) {
    Value v;
    v.m_type = Type::Namespace;
    v.m_ns = std::move(n);
    return v;
}

Value Value::loop(std::shared_ptr<LoopState> l) {
    Value v;
    v.m_type = Type::Loop;
    v.m_loop = std::move(l);
    return v;
}

Value Value::callable(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn) {
    Value v;
    v.m_type = Type::Callable;
    v.m_callable = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
    return v;
}

namespace {

template <typename Json>
Value value_from_json(const Json& j) {
    switch (j.type()) {
        case Json::value_t::null: return Value::none();
        case Json::value_t::boolean: return Value(j.template get<bool>());
        case Json::value_t::number_integer: return Value(j.template get<int64_t>());
        case Json::value_t::number_unsigned: {
            const auto u = j.template get<uint64_t>();
            QLS_CHECK(DataError, u <= static_cast<uint64_t>(INT64_MAX), "integer ", u, " is too large for a chat template");
            return Value(static_cast<int64_t>(u));
        }
        case Json::value_t::number_float: return Value(j.template get<double>());
        case Json::value_t::string: return Value(j.template get<std::string>());
        case Json::value_t::array: {
            std::vector<Value> items;
            items.reserve(j.size());
            for (const auto& x : j) items.push_back(value_from_json(x));
            return Value::list(std::move(items));
        }
        case Json::value_t::object: {
            DictData d;
            d.entries.reserve(j.size());
            for (auto it = j.begin(); it != j.end(); ++it) d.entries.emplace_back(Value(it.key()), value_from_json(it.value()));
            return Value::dict(std::move(d));
        }
        default: throw DataError("binary JSON values cannot be passed to a chat template");
    }
}

}  // namespace

Value Value::from_json(const nlohmann::json& j) { return value_from_json(j); }
Value Value::from_json(const nlohmann::ordered_json& j) { return value_from_json(j); }

int64_t Value::as_int() const { return m_type == Type::Bool ? (m_bool ? 1 : 0) : m_int; }

double Value::as_double() const {
    if (m_type == Type::Float) return m_float;
    return static_cast<double>(as_int());
}

const std::string& Value::undefined_hint() const {
    static const std::string empty;
    return m_type == Type::Undefined && m_str ? *m_str : empty;
}

bool Value::truthy() const {
    switch (m_type) {
        case Type::Undefined:
        case Type::None: return false;
        case Type::Bool: return m_bool;
        case Type::Int: return m_int != 0;
        case Type::Float: return m_float != 0.0;
        case Type::String: return !m_str->empty();
        case Type::List: return m_list->generator || !m_list->items.empty();
        case Type::Dict: return !m_dict->entries.empty();
        default: return true;
    }
}

namespace {

std::string dict_repr(const DictData& d) {
    std::string out = "{";
    for (size_t i = 0; i < d.entries.size(); ++i) {
        if (i) out += ", ";
        out += d.entries[i].first.repr() + ": " + d.entries[i].second.repr();
    }
    return out + "}";
}

}  // namespace

std::string Value::to_str() const {
    switch (m_type) {
        case Type::Undefined: return "";
        case Type::String: return *m_str;
        default: return repr();
    }
}

std::string Value::repr() const {
    switch (m_type) {
        case Type::Undefined: return "Undefined";
        case Type::None: return "None";
        case Type::Bool: return m_bool ? "True" : "False";
        case Type::Int: return std::to_string(m_int);
        case Type::Float: return py_float_repr(m_float);
        case Type::String: return py_str_repr(*m_str);
        case Type::List: {
            if (m_list->generator)
                throw EvalError("printing a generator is not supported (Python prints its address); apply |list first");
            std::string out = m_list->tuple ? "(" : "[";
            for (size_t i = 0; i < m_list->items.size(); ++i) {
                if (i) out += ", ";
                out += m_list->items[i].repr();
            }
            if (m_list->tuple && m_list->items.size() == 1) out += ",";
            return out + (m_list->tuple ? ")" : "]");
        }
        case Type::Dict: return dict_repr(*m_dict);
        case Type::Namespace: return "<Namespace " + dict_repr(m_ns->attrs) + ">";
        case Type::Loop: return "<LoopContext " + std::to_string(m_loop->index0 + 1) + "/" + std::to_string(m_loop->length) + ">";
        case Type::Callable: return "<function " + m_callable->name + ">";
    }
    return "";
}

std::string Value::type_name() const {
    switch (m_type) {
        case Type::Undefined: return "Undefined";
        case Type::None: return "NoneType";
        case Type::Bool: return "bool";
        case Type::Int: return "int";
        case Type::Float: return "float";
        case Type::String: return "str";
        case Type::List: return m_list->generator ? "generator" : m_list->tuple ? "tuple" : "list";
        case Type::Dict: return "dict";
        case Type::Namespace: return "Namespace";
        case Type::Loop: return "LoopContext";
        case Type::Callable: return "function";
    }
    return "";
}

std::vector<Value> Value::iterate() const {
    switch (m_type) {
        case Type::Undefined: return {};
        case Type::List:
            if (m_list->generator) {
                if (m_list->consumed) return {};
                m_list->consumed = true;
            }
            return m_list->items;
        case Type::Dict: {
            std::vector<Value> keys;
            keys.reserve(m_dict->entries.size());
            for (const auto& e : m_dict->entries) keys.push_back(e.first);
            return keys;
        }
        case Type::String: {
            std::vector<Value> chars;
            for (char32_t c : decode_utf8(*m_str)) {
                std::string s;
                append_utf8(s, c);
                chars.emplace_back(std::move(s));
            }
            return chars;
        }
        default: throw EvalError(str_cat("'", type_name(), "' object is not iterable"));
    }
}

bool values_equal(const Value& a, const Value& b) {
    using T = Value::Type;
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
        return a.as_int() == b.as_int();
    }
    if (a.type() != b.type()) return false;
    switch (a.type()) {
        case T::Undefined:
        case T::None: return true;
        case T::String: return a.str() == b.str();
        case T::List: {
            const auto& x = a.list_data();
            const auto& y = b.list_data();
            if (x.tuple != y.tuple || x.items.size() != y.items.size()) return false;
            for (size_t i = 0; i < x.items.size(); ++i)
                if (!values_equal(x.items[i], y.items[i])) return false;
            return true;
        }
        case T::Dict: {
            const auto& x = a.dict_data();
            const auto& y = b.dict_data();
            if (x.entries.size() != y.entries.size()) return false;
            for (const auto& [k, v] : x.entries) {
                const Value* other = y.find(k);
                if (!other || !values_equal(v, *other)) return false;
            }
            return true;
        }
        case T::Namespace: return &a.ns_data() == &b.ns_data();
        case T::Loop: return &a.loop_state() == &b.loop_state();
        case T::Callable: return &a.callable_data() == &b.callable_data();
        default: return false;
    }
}

int compare_values(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) {
            const double x = a.as_double(), y = b.as_double();
            return x < y ? -1 : (y < x ? 1 : 0);
        }
        const int64_t x = a.as_int(), y = b.as_int();
        return x < y ? -1 : (y < x ? 1 : 0);
    }
    if (a.is_string() && b.is_string()) {
        const int c = a.str().compare(b.str());  // UTF-8 byte order is code point order
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
        const auto& x = a.list_data().items;
        const auto& y = b.list_data().items;
        for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
            if (values_equal(x[i], y[i])) continue;
            return compare_values(x[i], y[i]);
        }
        return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
    }
    throw EvalError(str_cat("'<' not supported between instances of '", a.type_name(), "' and '", b.type_name(), "'"));
}

Value CallArgs::get(size_t index, std::string_view name, Value fallback) const {
    if (index < positional.size()) return positional[index];
    for (const auto& [k, v] : keyword)
        if (k == name) return v;
    return fallback;
}

bool CallArgs::has(size_t index, std::string_view name) const {
    if (index < positional.size()) return true;
    return std::any_of(keyword.begin(), keyword.end(), [&](const auto& kv) { return kv.first == name; });
}

void CallArgs::check(std::string_view what, std::initializer_list<std::string_view> names) const {
    if (positional.size() > names.size())
        throw EvalError(str_cat(what, " takes at most ", names.size(), " arguments (", positional.size(), " given)"));
    for (const auto& [k, v] : keyword) {
        const auto it = std::find(names.begin(), names.end(), k);
        if (it == names.end()) throw EvalError(str_cat(what, " got an unexpected keyword argument '", k, "'"));
        if (static_cast<size_t>(it - names.begin()) < positional.size())
            throw EvalError(str_cat(what, " got multiple values for argument '", k, "'"));
    }
}

}  // namespace qls::jinja
