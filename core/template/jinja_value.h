// Values of the Jinja interpreter, modelled on the Python objects Jinja2 works with when
// transformers renders a chat template: None, bool, int, float, str, list, tuple, dict, the
// jinja2 Undefined, namespace(), the loop object, macros and bound methods. Strings are UTF-8;
// Python counts them in code points, which jinja_text.h provides.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/util/error.h"

namespace qls::jinja {

class Value;
class Interpreter;
struct CallArgs;

// An error inside an expression; the interpreter prefixes it with the template position.
class EvalError : public DataError {
    using DataError::DataError;
};

// What one render may build (the template is untrusted: it comes with a downloaded model). A
// chat prompt is a few MB at the most; these stop {{'x' * 1e11}} and its kin with an error
// instead of exhausting memory or time.
inline constexpr size_t kMaxStringBytes = size_t{64} << 20;  // any string, the output included
inline constexpr size_t kMaxListItems = size_t{1} << 20;     // a list built by * or +
inline constexpr int64_t kMaxLoopIterations = 10'000'000;    // all for loops of one render together

// EvalError unless a string of `bytes` or a list of `items` is within those limits.
void check_string_size(size_t bytes);
void check_list_size(size_t items);

struct ListData {
    std::vector<Value> items;
    bool tuple = false;  // renders as (a, b) and compares unequal to a list, as in Python
    // A Python generator/iterator (what select, map, reverse, ... return): always true, no
    // len(), not subscriptable, and empty once iterated.
    bool generator = false;
    mutable bool consumed = false;
};

// An insertion-ordered dict (Python 3.7+ dict order); chat dicts are small, so lookups scan.
struct DictData {
    std::vector<std::pair<Value, Value>> entries;
    const Value* find(const Value& key) const;
    const Value* find(std::string_view key) const;
    void set(Value key, Value value);
};

struct NamespaceData {
    DictData attrs;
};

// loop.* inside a for body.
struct LoopState {
    int64_t index0 = 0;
    int64_t length = 0;
    const std::vector<Value>* items = nullptr;
};

// Macros, global functions (range, namespace, raise_exception, ...) and bound methods.
struct Callable {
    std::string name;
    std::function<Value(Interpreter&, CallArgs&)> fn;
};

class Value {
public:
    enum class Type : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Loop, Callable };

    Value() = default;  // Undefined
    static Value undefined(std::string hint = {});
    static Value none();
    Value(bool b);
    Value(int64_t i);
    Value(int i) : Value(static_cast<int64_t>(i)) {}
    Value(double d);
    Value(std::string s);
    Value(const char* s) : Value(std::string(s)) {}
    static Value list(std::vector<Value> items, bool tuple = false);
    static Value generator(std::vector<Value> items);
    static Value dict(DictData d);
    static Value ns(std::shared_ptr<NamespaceData> n);
    static Value loop(std::shared_ptr<LoopState> l);
    static Value callable(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn);
    static Value from_json(const nlohmann::json& j);
    static Value from_json(const nlohmann::ordered_json& j);

    Type type() const { return m_type; }
    bool is_undefined() const { return m_type == Type::Undefined; }
    bool is_none() const { return m_type == Type::None; }
    bool is_bool() const { return m_type == Type::Bool; }
    bool is_int() const { return m_type == Type::Int; }
    bool is_float() const { return m_type == Type::Float; }
    bool is_number() const { return m_type == Type::Int || m_type == Type::Float || m_type == Type::Bool; }
    bool is_string() const { return m_type == Type::String; }
    bool is_list() const { return m_type == Type::List; }  // list or tuple
    bool is_tuple() const { return m_type == Type::List && m_list->tuple; }
    bool is_generator() const { return m_type == Type::List && m_list->generator; }
    bool is_dict() const { return m_type == Type::Dict; }

    bool as_bool() const { return m_bool; }
    int64_t as_int() const;       // bool or int
    double as_double() const;     // bool, int or float
    const std::string& str() const { return *m_str; }
    const ListData& list_data() const { return *m_list; }
    const DictData& dict_data() const { return *m_dict; }
    NamespaceData& ns_data() const { return *m_ns; }
    LoopState& loop_state() const { return *m_loop; }
    const Callable& callable_data() const { return *m_callable; }
    const std::string& undefined_hint() const;

    bool truthy() const;
    // Python str(): what {{ value }} prints ("" for Undefined, None, True, 1.0, [1, 'a']).
    std::string to_str() const;
    // Python repr(), used for items inside containers.
    std::string repr() const;
    // The Python type name, for error messages.
    std::string type_name() const;
    // Items when iterated as Python does (dict: keys; str: code points); throws if not iterable.
    std::vector<Value> iterate() const;

private:
    Type m_type = Type::Undefined;
    bool m_bool = false;
    int64_t m_int = 0;
    double m_float = 0.0;
    std::shared_ptr<const std::string> m_str;  // String, or the Undefined's name
    std::shared_ptr<const ListData> m_list;
    std::shared_ptr<const DictData> m_dict;
    std::shared_ptr<NamespaceData> m_ns;
    std::shared_ptr<LoopState> m_loop;
    std::shared_ptr<const Callable> m_callable;
};

// Python == (1 == 1.0 == True, [1] != (1,), dicts compare unordered).
bool values_equal(const Value& a, const Value& b);
// Python <, for numbers, strings and sequences; throws EvalError otherwise. Returns -1, 0, 1.
int compare_values(const Value& a, const Value& b);

// Arguments of a call, filter or test: positional then keyword, as written.
struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;

    // The parameter at `index` or named `name`; `fallback` when absent.
    Value get(size_t index, std::string_view name, Value fallback = {}) const;
    bool has(size_t index, std::string_view name) const;
    // Throws unless every argument maps to one of `names` (in positional order).
    void check(std::string_view what, std::initializer_list<std::string_view> names) const;
};

}  // namespace qls::jinja
