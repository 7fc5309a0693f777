// Jinja's built-in filters, tests and globals, and the Python methods templates call on
// strings, lists and dicts. The parser resolves names here, so an unknown one is a parse error.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "core/template/jinja_ast.h"

namespace qls::jinja {

FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);
// Filters / tests Jinja has but we do not implement; used to name them in errors.
bool is_unsupported_jinja_filter(std::string_view name);

// Python methods on str, list and dict that templates may call (x.strip(), d.items(), ...).
bool is_known_method(std::string_view name);
// The bound method `name` of `self`, or Undefined when `self` has no such method.
Value get_method(const Value& self, std::string_view name);
// Calls self.name(args); throws EvalError when `self` has no such method.
Value call_method(const Value& self, std::string_view name, CallArgs& args);

// Jinja globals: range, namespace, dict, plus transformers' raise_exception and strftime_now.
Value find_global(std::string_view name);
bool is_unsupported_global(std::string_view name);

// json.dumps as transformers' tojson filter calls it (ensure_ascii=False by default).
struct JsonDumpOptions {
    bool ensure_ascii = false;
    std::optional<std::string> indent;  // per-level indent; nullopt = single line
    std::string item_separator = ", ";  // json.dumps uses "," when indenting
    std::string key_separator = ": ";
    bool sort_keys = false;
};
std::string json_dumps(const Value& v, const JsonDumpOptions& options);

// A filter or test applied by name at run time (map('trim'), select('odd')).
Value apply_filter_by_name(Interpreter& in, const std::string& name, const Value& v, CallArgs& args);
bool apply_test_by_name(Interpreter& in, const std::string& name, const Value& v, CallArgs& args);

}  // namespace qls::jinja
