// Renders a parsed template. One Interpreter per render: it owns the scopes and the output, the
// parsed template is shared read-only, so many threads may render the same template at once.
// Scoping follows Jinja: a for body is a fresh scope each iteration (sets inside do not leak,
// which is why templates use namespace()), if blocks share their enclosing scope, macros see
// the template's top level.
#pragma once
#include <ctime>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/template/jinja_parser.h"

namespace qls::jinja {

class Interpreter {
public:
    // `now`: the time strftime_now() formats; null means the local clock (as transformers).
    Interpreter(const ParsedTemplate& tmpl, const std::tm* now);

    // Renders with `vars` as the template's top-level variables.
    std::string render(std::vector<std::pair<std::string, Value>> vars);
    // [begin, end) byte ranges of the output produced inside {% generation %} blocks.
    const std::vector<std::pair<size_t, size_t>>& generation_spans() const { return m_spans; }

    // Used by builtins (map/select apply filters and tests by name; macros; strftime_now).
    Value call(const Value& callee, CallArgs& args);
    std::tm now() const;

private:
    struct Scope {
        std::unordered_map<std::string, Value> vars;
        Scope* parent = nullptr;
    };
    enum class Flow { Normal, Break, Continue };

    Flow exec(const Body& body, std::string& out);
    Flow exec_stmt(const Stmt& s, std::string& out);
    Flow exec_stmt_inner(const Stmt& s, std::string& out);
    void exec_for(const Stmt& s, std::string& out);
    void exec_set(const Stmt& s);
    void exec_macro_def(const Stmt& s);
    Value invoke_macro(const Stmt& s, CallArgs& args);
    void assign(const std::vector<std::string>& targets, const Value& v, Scope& scope);

    Value eval(const Expr& e);
    Value eval_inner(const Expr& e);
    Value eval_call(const Expr& e);
    Value eval_compare(const Expr& e);
    CallArgs eval_args(const Expr& e, size_t first);
    Value lookup(const std::string& name) const;
    Value apply_block_filters(const Expr* chain, std::string text);

    const ParsedTemplate& m_tmpl;
    const std::tm* m_now;
    Scope m_root;
    Scope* m_scope = &m_root;
    std::string* m_top_out = nullptr;
    std::vector<std::pair<size_t, size_t>> m_spans;
    Value m_block_value;  // the text a {% filter %} / {% set x | f %} block passes to its filters
    int m_depth = 0;      // macro recursion guard
    int64_t m_iterations = 0;  // loop iterations of this render, against kMaxLoopIterations
};

// Shared by the interpreter and the builtins: attribute / item access with jinja2's sandboxed
// getattr/getitem rules, and the Python operators.
Value get_attribute(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
Value binary_op(const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);

}  // namespace qls::jinja
