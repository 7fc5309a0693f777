// The parsed template: expressions and statements as jinja2/nodes.py names them. Filters and
// tests are resolved to their implementations at parse time, so rendering does no lookups.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/template/jinja_value.h"

namespace qls::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// A filter or test implementation: (interpreter, subject, arguments).
using FilterFn = Value (*)(Interpreter&, const Value&, CallArgs&);
using TestFn = bool (*)(Interpreter&, const Value&, CallArgs&);

enum class ExprKind {
    Literal,   // value
    Name,      // name
    List,      // args
    Tuple,     // args
    Dict,      // args as key, value, key, value ...
    Getattr,   // args[0] . name
    Getitem,   // args[0] [ args[1] ]
    Slice,     // args: start, stop, step (null = omitted)
    Call,      // args[0] ( args[1..], kwargs )
    Filter,    // args[0] | name ( args[1..], kwargs )
    Test,      // args[0] is [not] name ( args[1..], kwargs )
    Not,       // not args[0]
    Neg,       // - args[0]
    Pos,       // + args[0]
    Binary,    // args[0] op args[1]: + - * / // % ** ~
    And,       // args[0] and args[1]
    Or,        // args[0] or args[1]
    Compare,   // args[0] ops[i] args[i+1] ...: == != < <= > >= in notin
    CondExpr,  // args[1] if args[0] else args[2] (args[2] null: undefined)
};

struct Expr {
    ExprKind kind;
    size_t offset = 0;
    Value value;                  // Literal
    std::string name;             // Name, Getattr attribute, Filter / Test name, Binary operator
    std::vector<std::string> ops;  // Compare operators
    std::vector<ExprPtr> args;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    FilterFn filter = nullptr;
    TestFn test = nullptr;
    bool negated = false;  // Test: "is not"

    Expr() = default;
    Expr(const Expr&) = delete;
    Expr& operator=(const Expr&) = delete;
    // Frees the subtree without recursion: a hostile template's chain of 50,000 "+" is a tree
    // that deep, which recursive destructors would overflow the stack on.
    ~Expr();
};

inline Expr::~Expr() {
    std::vector<ExprPtr> pending;
    auto take = [&](Expr& e) {
        for (ExprPtr& a : e.args) pending.push_back(std::move(a));
        for (auto& kv : e.kwargs) pending.push_back(std::move(kv.second));
    };
    take(*this);
    while (!pending.empty()) {
        ExprPtr e = std::move(pending.back());
        pending.pop_back();
        if (e) take(*e);  // e's children move out, so its own destructor finds none
    }
}

enum class StmtKind {
    Text,        // text
    Output,      // expr
    If,          // conditions[i] -> bodies[i]; else_body
    For,         // targets in expr [if condition]: body; else_body
    Set,         // targets = expr, or targets = rendered body | filters
    SetAttr,     // target.attr = expr (namespace attribute)
    Macro,       // name(params = defaults): body
    Break,
    Continue,
    FilterBlock, // body rendered then passed through filter_expr (its args[0] is a placeholder)
    With,        // targets[i] = values[i]: body in a new scope
    Generation,  // body (transformers' {% generation %}: marks assistant text)
};

struct Stmt {
    StmtKind kind;
    size_t offset = 0;
    std::string text;
    ExprPtr expr;
    ExprPtr condition;
    std::vector<std::string> targets;
    std::string attr;
    std::vector<ExprPtr> conditions;  // If
    std::vector<Body> bodies;         // If
    std::vector<ExprPtr> defaults;    // Macro parameter defaults (null = required), With values
    Body body;
    Body else_body;
    bool block_set = false;           // Set: {% set x %}...{% endset %}
};

}  // namespace qls::jinja
