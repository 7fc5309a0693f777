// Statement execution and expression evaluation (what jinja2/compiler.py generates for each
// node, with jinja2/runtime.py's Undefined, LoopContext and Macro behaviour).
#include "core/template/jinja_interpreter.h"

#include <algorithm>

#include "core/template/jinja_builtins.h"
#include "core/template/jinja_lexer.h"

namespace qls::jinja {

Interpreter::Interpreter(const ParsedTemplate& tmpl, const std::tm* now) : m_tmpl(tmpl), m_now(now) {}

std::string Interpreter::render(std::vector<std::pair<std::string, Value>> vars) {
    for (auto& [k, v] : vars) m_root.vars[k] = std::move(v);
    std::string out;
    m_top_out = &out;
    exec(m_tmpl.body, out);
    return out;
}

std::tm Interpreter::now() const {
    if (m_now) return *m_now;
    const std::time_t t = std::time(nullptr);
    std::tm local{};
    localtime_r(&t, &local);
    return local;
}

Interpreter::Flow Interpreter::exec(const Body& body, std::string& out) {
    for (const auto& s : body) {
        const Flow f = exec_stmt(*s, out);
        if (out.size() > kMaxStringBytes)
            throw DataError(template_location(m_tmpl.source, s->offset) +
                            str_cat("the template's output passes ", kMaxStringBytes >> 20, " MiB"));
        if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_stmt(const Stmt& s, std::string& out) {
    try {
        return exec_stmt_inner(s, out);
    } catch (const EvalError& err) {
        throw DataError(template_location(m_tmpl.source, s.offset) + err.what());
    }
}

Interpreter::Flow Interpreter::exec_stmt_inner(const Stmt& s, std::string& out) {
    switch (s.kind) {
        case StmtKind::Text: out += s.text; break;
        case StmtKind::Output: out += eval(*s.expr).to_str(); break;
        case StmtKind::If:
            for (size_t i = 0; i < s.conditions.size(); ++i)
                if (eval(*s.conditions[i]).truthy()) return exec(s.bodies[i], out);
            return exec(s.else_body, out);
        case StmtKind::For: exec_for(s, out); break;
        case StmtKind::Set: {
            if (!s.block_set) {
                assign(s.targets, eval(*s.expr), *m_scope);
                break;
            }
            std::string text;
            exec(s.body, text);
            assign(s.targets, apply_block_filters(s.expr.get(), std::move(text)), *m_scope);
            break;
        }
        case StmtKind::SetAttr: exec_set(s); break;
        case StmtKind::Macro: exec_macro_def(s); break;
        case StmtKind::Break: return Flow::Break;
        case StmtKind::Continue: return Flow::Continue;
        case StmtKind::FilterBlock: {
            std::string text;
            exec(s.body, text);
            out += apply_block_filters(s.expr.get(), std::move(text)).to_str();
            break;
        }
        case StmtKind::With: {
            Scope scope;
            scope.parent = m_scope;
            for (size_t i = 0; i < s.targets.size(); ++i) scope.vars[s.targets[i]] = eval(*s.defaults[i]);
            Scope* saved = m_scope;
            m_scope = &scope;
            const Flow f = exec(s.body, out);
            m_scope = saved;
            return f;
        }
        case StmtKind::Generation: {
            const size_t begin = out.size();
            const Flow f = exec(s.body, out);
            if (&out == m_top_out) m_spans.emplace_back(begin, out.size());
            return f;
        }
    }
    return Flow::Normal;
}

Value Interpreter::apply_block_filters(const Expr* chain, std::string text) {
    if (!chain) return Value(std::move(text));
    const Value saved = m_block_value;
    m_block_value = Value(std::move(text));
    Value result = eval(*chain);
    m_block_value = saved;
    return result;
}

void Interpreter::assign(const std::vector<std::string>& targets, const Value& v, Scope& scope) {
    if (targets.size() == 1) {
        scope.vars[targets[0]] = v;
        return;
    }
    const std::vector<Value> items = v.iterate();
    if (items.size() != targets.size())
        throw EvalError(str_cat(items.size() < targets.size() ? "not enough" : "too many", " values to unpack (expected ",
                                targets.size(), ", got ", items.size(), ")"));
    for (size_t i = 0; i < targets.size(); ++i) scope.vars[targets[i]] = items[i];
}

void Interpreter::exec_for(const Stmt& s, std::string& out) {
    std::vector<Value> items = eval(*s.expr).iterate();
    Scope* outer = m_scope;
    if (s.condition) {
        std::vector<Value> kept;
        for (const auto& item : items) {
            Scope probe;
            probe.parent = outer;
            assign(s.targets, item, probe);
            m_scope = &probe;
            const bool keep = eval(*s.condition).truthy();
            m_scope = outer;
            if (keep) kept.push_back(item);
        }
        items = std::move(kept);
    }
    auto state = std::make_shared<LoopState>();
    state->length = static_cast<int64_t>(items.size());
    state->items = &items;
    const Value loop = Value::loop(state);
    for (size_t i = 0; i < items.size(); ++i) {
        if (++m_iterations > kMaxLoopIterations)
            throw EvalError(str_cat("the template's loops ran more than ", kMaxLoopIterations, " iterations"));
        Scope scope;
        scope.parent = outer;
        assign(s.targets, items[i], scope);
        scope.vars["loop"] = loop;
        state->index0 = static_cast<int64_t>(i);
        m_scope = &scope;
        const Flow f = exec(s.body, out);
        m_scope = outer;
        if (f == Flow::Break) break;
    }
    state->items = nullptr;
    if (items.empty()) exec(s.else_body, out);
}

void Interpreter::exec_set(const Stmt& s) {
    const Value target = lookup(s.targets[0]);
    if (target.type() != Value::Type::Namespace)
        throw DataError(template_location(m_tmpl.source, s.offset) + "cannot assign attribute on non-namespace object '" +
                        s.targets[0] + "'");
    target.ns_data().attrs.set(Value(s.attr), eval(*s.expr));
}

void Interpreter::exec_macro_def(const Stmt& s) {
    const Stmt* def = &s;
    m_scope->vars[s.attr] = Value::callable(s.attr, [def](Interpreter& in, CallArgs& args) { return in.invoke_macro(*def, args); });
}

Value Interpreter::invoke_macro(const Stmt& s, CallArgs& args) {
    if (args.positional.size() > s.targets.size())
        throw EvalError(str_cat("macro '", s.attr, "' takes not more than ", s.targets.size(), " argument(s)"));
    if (m_depth > 200) throw EvalError(str_cat("macro '", s.attr, "' recursed too deeply"));
    Scope scope;
    scope.parent = &m_root;
    for (const auto& [k, v] : args.keyword) {
        if (std::find(s.targets.begin(), s.targets.end(), k) == s.targets.end())
            throw EvalError(str_cat("macro '", s.attr, "' takes no keyword argument '", k, "'"));
        scope.vars[k] = v;
    }
    Scope* saved = m_scope;
    m_scope = &scope;
    ++m_depth;
    std::string out;
    for (size_t i = 0; i < s.targets.size(); ++i) {
        if (i < args.positional.size()) scope.vars[s.targets[i]] = args.positional[i];
        else if (!scope.vars.count(s.targets[i]))
            scope.vars[s.targets[i]] = s.defaults[i] ? eval(*s.defaults[i])
                                                     : Value::undefined("parameter '" + s.targets[i] + "' was not provided");
    }
    exec(s.body, out);
    m_scope = saved;
    --m_depth;
    return Value(std::move(out));
}

Value Interpreter::lookup(const std::string& name) const {
    if (name.empty()) return m_block_value;
    for (const Scope* s = m_scope; s; s = s->parent) {
        const auto it = s->vars.find(name);
        if (it != s->vars.end()) return it->second;
    }
    Value g = find_global(name);
    if (!g.is_undefined()) return g;
    return Value::undefined("'" + name + "' is undefined");
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
    if (callee.type() == Value::Type::Callable) return callee.callable_data().fn(*this, args);
    if (callee.is_undefined()) {
        const std::string& hint = callee.undefined_hint();
        throw EvalError(hint.empty() ? "calling an undefined value" : hint);
    }
    throw EvalError(str_cat("'", callee.type_name(), "' object is not callable"));
}

Value Interpreter::eval(const Expr& e) {
    try {
        return eval_inner(e);
    } catch (const EvalError& err) {
        throw DataError(template_location(m_tmpl.source, e.offset) + err.what());
    }
}

CallArgs Interpreter::eval_args(const Expr& e, size_t first) {
    CallArgs args;
    for (size_t i = first; i < e.args.size(); ++i) args.positional.push_back(eval(*e.args[i]));
    for (const auto& [k, v] : e.kwargs) args.keyword.emplace_back(k, eval(*v));
    return args;
}

Value Interpreter::eval_call(const Expr& e) {
    const Expr& callee = *e.args[0];
    CallArgs args;
    if (callee.kind == ExprKind::Getattr) {
        const Value self = eval(*callee.args[0]);
        args = eval_args(e, 1);
        if (self.is_string() || self.is_list() || self.is_dict() || self.type() == Value::Type::Loop) {
            if (self.is_dict() && get_method(self, callee.name).is_undefined()) return call(get_attribute(self, callee.name), args);
            return call_method(self, callee.name, args);
        }
        return call(get_attribute(self, callee.name), args);
    }
    const Value fn = eval(callee);
    args = eval_args(e, 1);
    return call(fn, args);
}

Value Interpreter::eval_compare(const Expr& e) {
    Value left = eval(*e.args[0]);
    for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.args[i + 1]);
        const std::string& op = e.ops[i];
        bool ok;
        if (op == "==") ok = values_equal(left, right);
        else if (op == "!=") ok = !values_equal(left, right);
        else if (op == "in") ok = contains(right, left);
        else if (op == "notin") ok = !contains(right, left);
        else {
            if (left.is_undefined() || right.is_undefined())
                throw EvalError((left.is_undefined() ? left : right).undefined_hint());
            const int c = compare_values(left, right);
            ok = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
        }
        if (!ok) return Value(false);
        left = std::move(right);
    }
    return Value(true);
}

Value Interpreter::eval_inner(const Expr& e) {
    switch (e.kind) {
        case ExprKind::Literal: return e.value;
        case ExprKind::Name: return lookup(e.name);
        case ExprKind::List:
        case ExprKind::Tuple: {
            std::vector<Value> items;
            items.reserve(e.args.size());
            for (const auto& a : e.args) items.push_back(eval(*a));
            return Value::list(std::move(items), e.kind == ExprKind::Tuple);
        }
        case ExprKind::Dict: {
            DictData d;
            for (size_t i = 0; i + 1 < e.args.size(); i += 2) d.set(eval(*e.args[i]), eval(*e.args[i + 1]));
            return Value::dict(std::move(d));
        }
        case ExprKind::Getattr: return get_attribute(eval(*e.args[0]), e.name);
        case ExprKind::Getitem: {
            const Value obj = eval(*e.args[0]);
            const Expr& key = *e.args[1];
            if (key.kind != ExprKind::Slice) return get_item(obj, eval(key));
            auto part = [&](size_t i) { return key.args[i] ? eval(*key.args[i]) : Value::none(); };
            return get_slice(obj, part(0), part(1), part(2));
        }
        case ExprKind::Slice: throw EvalError("a slice is only valid inside [...]");
        case ExprKind::Call: return eval_call(e);
        case ExprKind::Filter: {
            const Value subject = eval(*e.args[0]);
            CallArgs args = eval_args(e, 1);
            return e.filter(*this, subject, args);
        }
        case ExprKind::Test: {
            const Value subject = eval(*e.args[0]);
            CallArgs args = eval_args(e, 1);
            return Value(e.test(*this, subject, args) != e.negated);
        }
        case ExprKind::Not: return Value(!eval(*e.args[0]).truthy());
        case ExprKind::Neg:
        case ExprKind::Pos: {
            const Value v = eval(*e.args[0]);
            if (!v.is_number()) throw EvalError(str_cat("bad operand type for unary ", e.kind == ExprKind::Neg ? "-" : "+", ": '", v.type_name(), "'"));
            if (e.kind == ExprKind::Pos) return v.is_bool() ? Value(v.as_int()) : v;
            return v.is_float() ? Value(-v.as_double()) : binary_op("-", Value(int64_t{0}), v);
        }
        case ExprKind::Binary: return binary_op(e.name, eval(*e.args[0]), eval(*e.args[1]));
        case ExprKind::And: {
            Value l = eval(*e.args[0]);
            return l.truthy() ? eval(*e.args[1]) : l;
        }
        case ExprKind::Or: {
            Value l = eval(*e.args[0]);
            return l.truthy() ? l : eval(*e.args[1]);
        }
        case ExprKind::Compare: return eval_compare(e);
        case ExprKind::CondExpr:
            if (eval(*e.args[0]).truthy()) return eval(*e.args[1]);
            return e.args[2] ? eval(*e.args[2]) : Value::undefined("the inline if-expression evaluated to false and no else section was defined");
    }
    return {};
}

}  // namespace qls::jinja
