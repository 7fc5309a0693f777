// Statements and expressions as jinja2/parser.py parses them (Jinja 3.1), including its
// precedence quirks: "is" tests and "|" filters bind tighter than arithmetic, unary minus binds
// tighter than "**", and "a if b" without "else" yields Undefined.
#include "core/template/jinja_parser.h"

#include <algorithm>
#include <array>

#include "core/template/jinja_builtins.h"
#include "core/template/jinja_lexer.h"

namespace qls::jinja {
namespace {

ExprPtr make_expr(ExprKind kind, size_t offset) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->offset = offset;
    return e;
}

StmtPtr make_stmt(StmtKind kind, size_t offset) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->offset = offset;
    return s;
}

constexpr std::array kUnsupportedTags = {"include", "import", "from", "extends", "block", "call",
                                         "autoescape", "do", "trans", "pluralize", "print"};

// A chat template comes with a downloaded model: untrusted input. The parser and the
// interpreter recurse over the template's nesting, so it is bounded well below what a thread's
// stack holds (a frame chain per level is ~15 calls deep), and far above what real templates
// use (HF's templates nest under 10).
constexpr int kMaxNesting = 64;       // brackets, parentheses, unary operators, blocks
constexpr size_t kMaxExprDepth = 512; // an expression tree's height (a chain of + or | builds one)

class Parser {
public:
    Parser(const std::string& src, std::vector<Token> toks) : m_src(src), m_toks(std::move(toks)) {}

    Body parse_all() {
        std::string end;
        Body body = subparse({}, end);
        return body;
    }

private:
    const Token& cur() const { return m_toks[m_i]; }
    const Token& look(size_t n = 1) const { return m_toks[std::min(m_i + n, m_toks.size() - 1)]; }
    const Token& advance() { return m_toks[m_i < m_toks.size() - 1 ? m_i++ : m_i]; }
    bool is_op(const char* op) const { return cur().type == TokenType::Op && cur().text == op; }
    bool is_name(const char* name) const { return cur().type == TokenType::Name && cur().text == name; }
    bool skip_op(const char* op) { return is_op(op) ? (advance(), true) : false; }
    bool skip_name(const char* name) { return is_name(name) ? (advance(), true) : false; }

    [[noreturn]] void fail(size_t offset, const std::string& msg) const {
        throw FormatError(template_location(m_src, offset) + msg);
    }

    // One more level of nesting for the life of the guard; refused past kMaxNesting.
    class Nest {
    public:
        Nest(Parser& p, size_t offset) : m_p(p) {
            if (++m_p.m_nesting > kMaxNesting) {
                --m_p.m_nesting;
                m_p.fail(offset, str_cat("the template nests more than ", kMaxNesting,
                                         " levels deep (brackets, operators or blocks)"));
            }
        }
        ~Nest() { --m_p.m_nesting; }
        Nest(const Nest&) = delete;
        Nest& operator=(const Nest&) = delete;

    private:
        Parser& m_p;
    };

    std::string describe(const Token& t) const {
        switch (t.type) {
            case TokenType::Eof: return "end of template";
            case TokenType::BlockEnd: return "end of statement block";
            case TokenType::VarEnd: return "end of print statement";
            case TokenType::Text: return "template data";
            case TokenType::String: return "string literal";
            default: return "'" + (t.text.empty() ? std::string("?") : t.text) + "'";
        }
    }

    void expect_op(const char* op) {
        if (!skip_op(op)) fail(cur().offset, str_cat("expected '", op, "', got ", describe(cur())));
    }
    std::string expect_name() {
        if (cur().type != TokenType::Name) fail(cur().offset, "expected a name, got " + describe(cur()));
        return advance().text;
    }
    void expect_block_end() {
        if (cur().type != TokenType::BlockEnd) fail(cur().offset, "expected end of statement block, got " + describe(cur()));
        advance();
    }

    Body subparse(std::initializer_list<const char*> end_tags, std::string& found_end) {
        const Nest nest(*this, cur().offset);
        Body body;
        while (true) {
            const Token& t = cur();
            if (t.type == TokenType::Text) {
                auto s = make_stmt(StmtKind::Text, t.offset);
                s->text = t.text;
                body.push_back(std::move(s));
                advance();
            } else if (t.type == TokenType::VarBegin) {
                auto s = make_stmt(StmtKind::Output, t.offset);
                advance();
                s->expr = parse_tuple(false, true, {}, false);
                if (cur().type != TokenType::VarEnd) fail(cur().offset, "expected end of print statement, got " + describe(cur()));
                advance();
                body.push_back(std::move(s));
            } else if (t.type == TokenType::BlockBegin) {
                advance();
                for (const char* end : end_tags) {
                    if (is_name(end)) {
                        found_end = end;
                        return body;
                    }
                }
                body.push_back(parse_statement());
                expect_block_end();
            } else {
                if (end_tags.size() == 0) return body;
                std::string want;
                for (const char* e : end_tags) want += (want.empty() ? "'" : " or '") + std::string(e) + "'";
                fail(t.offset, "unexpected end of template, expected " + want);
            }
        }
    }

    // Expects the tag's block end, then parses the body up to one of `end_tags`.
    Body parse_statements(std::initializer_list<const char*> end_tags, std::string& found_end, bool drop_needle) {
        expect_block_end();
        Body body = subparse(end_tags, found_end);
        if (drop_needle) advance();
        return body;
    }

    StmtPtr parse_statement() {
        const Token& t = cur();
        if (t.type != TokenType::Name) fail(t.offset, "tag name expected");
        const std::string& tag = t.text;
        if (tag == "if") return parse_if();
        if (tag == "for") return parse_for();
        if (tag == "set") return parse_set();
        if (tag == "macro") return parse_macro();
        if (tag == "filter") return parse_filter_block();
        if (tag == "with") return parse_with();
        if (tag == "generation") return parse_simple_block(StmtKind::Generation, "endgeneration");
        if (tag == "break" || tag == "continue") {
            auto s = make_stmt(tag == "break" ? StmtKind::Break : StmtKind::Continue, t.offset);
            advance();
            return s;
        }
        if (std::find(kUnsupportedTags.begin(), kUnsupportedTags.end(), tag) != kUnsupportedTags.end())
            fail(t.offset, "unsupported tag '" + tag + "'");
        fail(t.offset, "unknown tag '" + tag + "'");
    }

    StmtPtr parse_if() {
        auto s = make_stmt(StmtKind::If, advance().offset);
        std::string end;
        while (true) {
            s->conditions.push_back(parse_tuple(false, false, {}, false));
            s->bodies.push_back(parse_statements({"elif", "else", "endif"}, end, false));
            advance();
            if (end == "elif") continue;
            if (end == "else") s->else_body = parse_statements({"endif"}, end, true);
            return s;
        }
    }

    std::vector<std::string> parse_targets(const char* extra_end) {
        const size_t offset = cur().offset;
        ExprPtr target = parse_tuple(true, true, {extra_end}, false);
        std::vector<std::string> names;
        if (target->kind == ExprKind::Name) {
            names.push_back(target->name);
        } else if (target->kind == ExprKind::Tuple) {
            for (const auto& item : target->args) {
                if (item->kind != ExprKind::Name) fail(item->offset, "only names can be unpacked here");
                names.push_back(item->name);
            }
        } else {
            fail(offset, "can't assign to this expression");
        }
        for (const auto& n : names)
            if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" || n == "None")
                fail(offset, "can't assign to '" + n + "'");
        return names;
    }

    StmtPtr parse_for() {
        auto s = make_stmt(StmtKind::For, advance().offset);
        s->targets = parse_targets("in");
        if (!skip_name("in")) fail(cur().offset, "expected 'in', got " + describe(cur()));
        s->expr = parse_tuple(false, false, {"recursive"}, false);
        if (skip_name("if")) s->condition = parse_expression(true);
        if (is_name("recursive")) fail(cur().offset, "unsupported: recursive for loops");
        std::string end;
        s->body = parse_statements({"endfor", "else"}, end, false);
        advance();
        if (end == "else") s->else_body = parse_statements({"endfor"}, end, true);
        return s;
    }

    StmtPtr parse_set() {
        const size_t offset = advance().offset;
        if (cur().type == TokenType::Name && look().type == TokenType::Op && look().text == ".") {
            auto s = make_stmt(StmtKind::SetAttr, offset);
            s->targets.push_back(advance().text);
            advance();
            s->attr = expect_name();
            expect_op("=");
            s->expr = parse_tuple(false, true, {}, false);
            return s;
        }
        auto s = make_stmt(StmtKind::Set, offset);
        s->targets = parse_targets(nullptr);
        if (skip_op("=")) {
            s->expr = parse_tuple(false, true, {}, false);
            return s;
        }
        s->block_set = true;
        if (is_op("|")) s->expr = parse_filter_chain(make_expr(ExprKind::Name, cur().offset), false);
        std::string end;
        s->body = parse_statements({"endset"}, end, true);
        return s;
    }

    StmtPtr parse_macro() {
        auto s = make_stmt(StmtKind::Macro, advance().offset);
        s->attr = expect_name();
        expect_op("(");
        while (!is_op(")")) {
            if (!s->targets.empty()) expect_op(",");
            if (is_op(")")) break;
            const size_t arg_offset = cur().offset;
            s->targets.push_back(expect_name());
            if (skip_op("=")) s->defaults.push_back(parse_expression(true));
            else if (std::any_of(s->defaults.begin(), s->defaults.end(), [](const auto& d) { return d != nullptr; }))
                fail(arg_offset, "non-default argument follows default argument");
            else s->defaults.push_back(nullptr);
        }
        advance();
        std::string end;
        s->body = parse_statements({"endmacro"}, end, true);
        return s;
    }

    StmtPtr parse_filter_block() {
        auto s = make_stmt(StmtKind::FilterBlock, advance().offset);
        s->expr = parse_filter_chain(make_expr(ExprKind::Name, cur().offset), true);
        std::string end;
        s->body = parse_statements({"endfilter"}, end, true);
        return s;
    }

    StmtPtr parse_with() {
        auto s = make_stmt(StmtKind::With, advance().offset);
        while (cur().type != TokenType::BlockEnd) {
            if (!s->targets.empty()) expect_op(",");
            s->targets.push_back(expect_name());
            expect_op("=");
            s->defaults.push_back(parse_expression(true));
        }
        std::string end;
        s->body = parse_statements({"endwith"}, end, true);
        return s;
    }

    StmtPtr parse_simple_block(StmtKind kind, const char* end_tag) {
        auto s = make_stmt(kind, advance().offset);
        std::string end;
        s->body = parse_statements({end_tag}, end, true);
        return s;
    }

    // ---- expressions ----

    bool is_tuple_end(std::initializer_list<const char*> extra_end) const {
        const TokenType t = cur().type;
        if (t == TokenType::VarEnd || t == TokenType::BlockEnd || (t == TokenType::Op && cur().text == ")")) return true;
        for (const char* e : extra_end)
            if (e && is_name(e)) return true;
        return false;
    }

    ExprPtr parse_tuple(bool simplified, bool with_condexpr, std::initializer_list<const char*> extra_end, bool explicit_parens) {
        const size_t offset = cur().offset;
        std::vector<ExprPtr> items;
        bool is_tuple = false;
        while (true) {
            if (!items.empty()) expect_op(",");
            if (is_tuple_end(extra_end)) break;
            items.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
            if (is_op(",")) is_tuple = true;
            else break;
        }
        if (!is_tuple) {
            if (!items.empty()) return std::move(items[0]);
            if (!explicit_parens) fail(cur().offset, "expected an expression, got " + describe(cur()));
        }
        auto e = make_expr(ExprKind::Tuple, offset);
        e->args = std::move(items);
        return e;
    }

    ExprPtr parse_expression(bool with_condexpr) {
        const Nest nest(*this, cur().offset);
        return with_condexpr ? parse_condexpr() : parse_or();
    }

    ExprPtr parse_condexpr() {
        ExprPtr expr1 = parse_or();
        while (is_name("if")) {
            auto e = make_expr(ExprKind::CondExpr, advance().offset);
            ExprPtr cond = parse_or();
            ExprPtr other = skip_name("else") ? parse_condexpr() : nullptr;
            e->args.push_back(std::move(cond));
            e->args.push_back(std::move(expr1));
            e->args.push_back(std::move(other));
            expr1 = std::move(e);
        }
        return expr1;
    }

    ExprPtr binary(ExprKind kind, std::string op, size_t offset, ExprPtr l, ExprPtr r) {
        auto e = make_expr(kind, offset);
        e->name = std::move(op);
        e->args.push_back(std::move(l));
        e->args.push_back(std::move(r));
        return e;
    }

    ExprPtr parse_or() {
        ExprPtr left = parse_and();
        while (is_name("or")) {
            const size_t offset = advance().offset;
            left = binary(ExprKind::Or, "or", offset, std::move(left), parse_and());
        }
        return left;
    }

    ExprPtr parse_and() {
        ExprPtr left = parse_not();
        while (is_name("and")) {
            const size_t offset = advance().offset;
            left = binary(ExprKind::And, "and", offset, std::move(left), parse_not());
        }
        return left;
    }

    ExprPtr parse_not() {
        if (is_name("not")) {
            auto e = make_expr(ExprKind::Not, advance().offset);
            const Nest nest(*this, e->offset);
            e->args.push_back(parse_not());
            return e;
        }
        return parse_compare();
    }

    ExprPtr parse_compare() {
        const size_t offset = cur().offset;
        ExprPtr expr = parse_math1();
        std::vector<std::string> ops;
        std::vector<ExprPtr> operands;
        while (true) {
            if (cur().type == TokenType::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                                cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
                ops.push_back(advance().text);
            } else if (skip_name("in")) {
                ops.push_back("in");
            } else if (is_name("not") && look().type == TokenType::Name && look().text == "in") {
                advance();
                advance();
                ops.push_back("notin");
            } else {
                break;
            }
            operands.push_back(parse_math1());
        }
        if (ops.empty()) return expr;
        auto e = make_expr(ExprKind::Compare, offset);
        e->ops = std::move(ops);
        e->args.push_back(std::move(expr));
        for (auto& o : operands) e->args.push_back(std::move(o));
        return e;
    }

    template <typename Next>
    ExprPtr parse_binary_level(std::initializer_list<const char*> ops, Next next) {
        ExprPtr left = (this->*next)();
        while (cur().type == TokenType::Op) {
            const auto it = std::find_if(ops.begin(), ops.end(), [&](const char* op) { return cur().text == op; });
            if (it == ops.end()) break;
            const size_t offset = cur().offset;
            const std::string op = advance().text;
            left = binary(ExprKind::Binary, op, offset, std::move(left), (this->*next)());
        }
        return left;
    }

    ExprPtr parse_math1() { return parse_binary_level({"+", "-"}, &Parser::parse_concat); }
    ExprPtr parse_concat() { return parse_binary_level({"~"}, &Parser::parse_math2); }
    ExprPtr parse_math2() { return parse_binary_level({"*", "/", "//", "%"}, &Parser::parse_pow); }
    ExprPtr parse_pow() { return parse_binary_level({"**"}, &Parser::parse_unary_filtered); }
    ExprPtr parse_unary_filtered() { return parse_unary(true); }

    ExprPtr parse_unary(bool with_filter) {
        ExprPtr node;
        if (is_op("-") || is_op("+")) {
            node = make_expr(is_op("-") ? ExprKind::Neg : ExprKind::Pos, cur().offset);
            advance();
            const Nest nest(*this, node->offset);
            node->args.push_back(parse_unary(false));
        } else {
            node = parse_primary();
        }
        node = parse_postfix(std::move(node));
        if (with_filter) node = parse_filter_expr(std::move(node));
        return node;
    }

    ExprPtr parse_primary() {
        const Token& t = cur();
        auto lit = [&](Value v) {
            auto e = make_expr(ExprKind::Literal, t.offset);
            e->value = std::move(v);
            return e;
        };
        switch (t.type) {
            case TokenType::Name: {
                ExprPtr e;
                if (t.text == "true" || t.text == "True") e = lit(Value(true));
                else if (t.text == "false" || t.text == "False") e = lit(Value(false));
                else if (t.text == "none" || t.text == "None") e = lit(Value::none());
                else {
                    e = make_expr(ExprKind::Name, t.offset);
                    e->name = t.text;
                }
                advance();
                return e;
            }
            case TokenType::String: {
                auto e = lit(Value());
                std::string s;
                while (cur().type == TokenType::String) s += advance().text;  // "a" "b" concatenate
                e->value = Value(std::move(s));
                return e;
            }
            case TokenType::Int: {
                auto e = lit(Value(t.int_value));
                advance();
                return e;
            }
            case TokenType::Float: {
                auto e = lit(Value(t.float_value));
                advance();
                return e;
            }
            default: break;
        }
        if (is_op("(")) {
            advance();
            ExprPtr e = parse_tuple(false, true, {}, true);
            expect_op(")");
            return e;
        }
        if (is_op("[")) return parse_list();
        if (is_op("{")) return parse_dict();
        fail(t.offset, "unexpected " + describe(t));
    }

    ExprPtr parse_list() {
        auto e = make_expr(ExprKind::List, advance().offset);
        while (!is_op("]")) {
            if (!e->args.empty()) expect_op(",");
            if (is_op("]")) break;
            e->args.push_back(parse_expression(true));
        }
        advance();
        return e;
    }

    ExprPtr parse_dict() {
        auto e = make_expr(ExprKind::Dict, advance().offset);
        while (!is_op("}")) {
            if (!e->args.empty()) expect_op(",");
            if (is_op("}")) break;
            e->args.push_back(parse_expression(true));
            expect_op(":");
            e->args.push_back(parse_expression(true));
        }
        advance();
        return e;
    }

    ExprPtr parse_postfix(ExprPtr node) {
        while (true) {
            if (is_op(".") || is_op("[")) node = parse_subscript(std::move(node));
            else if (is_op("(")) node = parse_call(std::move(node));
            else return node;
        }
    }

    ExprPtr parse_filter_expr(ExprPtr node) {
        while (true) {
            if (is_op("|")) node = parse_filter_chain(std::move(node), false);
            else if (is_name("is")) node = parse_test(std::move(node));
            else if (is_op("(")) node = parse_call(std::move(node));
            else return node;
        }
    }

    ExprPtr parse_subscript(ExprPtr node) {
        const Token& t = advance();
        if (t.text == ".") {
            const Token& attr = cur();
            if (attr.type == TokenType::Name) {
                auto e = make_expr(ExprKind::Getattr, attr.offset);
                e->name = attr.text;
                e->args.push_back(std::move(node));
                advance();
                return e;
            }
            if (attr.type != TokenType::Int) fail(attr.offset, "expected name or number after '.'");
            auto e = make_expr(ExprKind::Getitem, attr.offset);
            e->args.push_back(std::move(node));
            auto idx = make_expr(ExprKind::Literal, attr.offset);
            idx->value = Value(attr.int_value);
            e->args.push_back(std::move(idx));
            advance();
            return e;
        }
        auto e = make_expr(ExprKind::Getitem, t.offset);
        std::vector<ExprPtr> subs;
        while (!is_op("]")) {
            if (!subs.empty()) expect_op(",");
            subs.push_back(parse_subscribed());
        }
        advance();
        e->args.push_back(std::move(node));
        if (subs.size() == 1) {
            e->args.push_back(std::move(subs[0]));
        } else {
            auto tuple = make_expr(ExprKind::Tuple, t.offset);
            tuple->args = std::move(subs);
            e->args.push_back(std::move(tuple));
        }
        return e;
    }

    ExprPtr parse_subscribed() {
        const size_t offset = cur().offset;
        std::vector<ExprPtr> parts;
        if (is_op(":")) {
            advance();
            parts.push_back(nullptr);
        } else {
            ExprPtr node = parse_expression(true);
            if (!is_op(":")) return node;
            advance();
            parts.push_back(std::move(node));
        }
        auto slice_end = [&] { return is_op("]") || is_op(","); };
        if (is_op(":")) parts.push_back(nullptr);
        else if (!slice_end()) parts.push_back(parse_expression(true));
        else parts.push_back(nullptr);
        if (is_op(":")) {
            advance();
            parts.push_back(slice_end() ? nullptr : parse_expression(true));
        } else {
            parts.push_back(nullptr);
        }
        auto e = make_expr(ExprKind::Slice, offset);
        e->args = std::move(parts);
        return e;
    }

    void parse_call_args(Expr& e) {
        expect_op("(");
        bool need_comma = false;
        while (!is_op(")")) {
            if (need_comma) {
                expect_op(",");
                if (is_op(")")) break;
            }
            if (is_op("*") || is_op("**")) fail(cur().offset, "unsupported: *args / **kwargs in calls");
            if (cur().type == TokenType::Name && look().type == TokenType::Op && look().text == "=") {
                std::string key = advance().text;
                advance();
                e.kwargs.emplace_back(std::move(key), parse_expression(true));
            } else {
                if (!e.kwargs.empty()) fail(cur().offset, "positional argument follows keyword argument");
                e.args.push_back(parse_expression(true));
            }
            need_comma = true;
        }
        advance();
    }

    ExprPtr parse_call(ExprPtr node) {
        auto e = make_expr(ExprKind::Call, cur().offset);
        if (node->kind == ExprKind::Getattr && !is_known_method(node->name))
            fail(node->offset, "unsupported method '" + node->name + "'");
        if (node->kind == ExprKind::Name && is_unsupported_global(node->name))
            fail(node->offset, "unsupported function '" + node->name + "'");
        e->args.push_back(std::move(node));
        parse_call_args(*e);
        return e;
    }

    std::string parse_dotted_name() {
        std::string name = expect_name();
        while (is_op(".")) {
            advance();
            name += "." + expect_name();
        }
        return name;
    }

    // "| f(args) | g" (or "f(args) | g" after {% filter %}).
    ExprPtr parse_filter_chain(ExprPtr node, bool start_inline) {
        while (is_op("|") || start_inline) {
            if (!start_inline) advance();
            start_inline = false;
            const size_t offset = cur().offset;
            auto e = make_expr(ExprKind::Filter, offset);
            e->name = parse_dotted_name();
            e->filter = find_filter(e->name);
            if (!e->filter)
                fail(offset, (is_unsupported_jinja_filter(e->name) ? "unsupported filter '" : "unknown filter '") + e->name + "'");
            e->args.push_back(std::move(node));
            if (is_op("(")) parse_call_args(*e);
            node = std::move(e);
        }
        return node;
    }

    ExprPtr parse_test(ExprPtr node) {
        advance();  // is
        const bool negated = skip_name("not");
        const size_t offset = cur().offset;
        auto e = make_expr(ExprKind::Test, offset);
        e->negated = negated;
        e->name = parse_dotted_name();
        e->test = find_test(e->name);
        if (!e->test)
            fail(offset, (is_unsupported_jinja_filter(e->name) ? "unsupported test '" : "unknown test '") + e->name + "'");
        e->args.push_back(std::move(node));
        const TokenType t = cur().type;
        if (is_op("(")) {
            parse_call_args(*e);
        } else if ((t == TokenType::Name || t == TokenType::String || t == TokenType::Int || t == TokenType::Float ||
                    is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
            if (is_name("is")) fail(cur().offset, "you cannot chain multiple tests with is");
            e->args.push_back(parse_postfix(parse_primary()));
        }
        return e;
    }

    const std::string& m_src;
    int m_nesting = 0;
    std::vector<Token> m_toks;
    size_t m_i = 0;
};

}  // namespace

namespace {

// Every expression of a body, visited without recursion (the tree may be deeper than a stack).
template <typename Fn>
void for_each_expr_root(const Body& body, const Fn& fn) {
    std::vector<const Stmt*> stmts;
    for (const StmtPtr& s : body) stmts.push_back(s.get());
    while (!stmts.empty()) {
        const Stmt* s = stmts.back();
        stmts.pop_back();
        for (const Expr* e : {s->expr.get(), s->condition.get()}) fn(e);
        for (const ExprPtr& e : s->conditions) fn(e.get());
        for (const ExprPtr& e : s->defaults) fn(e.get());
        for (const Body* b : {&s->body, &s->else_body})
            for (const StmtPtr& c : *b) stmts.push_back(c.get());
        for (const Body& b : s->bodies)
            for (const StmtPtr& c : b) stmts.push_back(c.get());
    }
}

// The height of an expression tree, iteratively; the first node past the limit, or null.
const Expr* too_deep(const Expr* root) {
    std::vector<std::pair<const Expr*, size_t>> stack;
    if (root) stack.emplace_back(root, 1);
    while (!stack.empty()) {
        const auto [e, depth] = stack.back();
        stack.pop_back();
        if (depth > kMaxExprDepth) return e;
        for (const ExprPtr& a : e->args)
            if (a) stack.emplace_back(a.get(), depth + 1);
        for (const auto& kv : e->kwargs)
            if (kv.second) stack.emplace_back(kv.second.get(), depth + 1);
    }
    return nullptr;
}

}  // namespace

ParsedTemplate parse_template(std::string_view source) {
    ParsedTemplate t;
    t.source = normalize_template_source(source);
    Parser parser(t.source, lex_template(t.source));
    t.body = parser.parse_all();
    const Expr* deep = nullptr;
    for_each_expr_root(t.body, [&](const Expr* e) {
        if (!deep) deep = too_deep(e);
    });
    if (deep)
        throw FormatError(str_cat(template_location(t.source, deep->offset), "an expression nests more than ",
                                  kMaxExprDepth, " operations deep (a chain of operators, filters or calls)"));
    return t;
}

}  // namespace qls::jinja
