// Renders an Ollama Modelfile TEMPLATE the way Ollama does for /api/chat, for exactly the Go
// text/template subset our generated templates use, so tests can compare Ollama's prompt with
// the Jinja chat template's. Semantics followed:
//   - Go text/template: text, {{ pipeline }}, {{ range PIPE }} ... {{ end }} (dot = each
//     element, $ = the root), {{ if PIPE }} ... {{ else if PIPE }} ... {{ else }} ... {{ end }},
//     fields .System .Messages .Role .Content (and $.X), string literals, the functions eq, and,
//     not; "{{- " trims the whitespace before the action, " -}}" the whitespace after it; empty
//     strings and lists are false.
//   - Ollama (server/routes.go ChatHandler, template/template.go Execute and collate): a Modelfile
//     SYSTEM becomes a first system message when the chat does not start with one; consecutive
//     messages of one role merge with "\n\n"; system messages stay in .Messages and are also
//     joined with "\n\n" into .System.
// Anything else throws std::runtime_error naming it, so a template outside the subset fails the
// test instead of rendering wrongly.
#pragma once
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace qls::test {

struct OllamaMessage {
    std::string role, content;
};

namespace go_template {

struct Scope {
    const std::string* system;
    const std::vector<OllamaMessage>* messages;
    const OllamaMessage* dot;  // inside range; null at the root
};

// A value: a string, or the message list.
using Value = std::variant<std::string, const std::vector<OllamaMessage>*>;

inline bool truthy(const Value& v) {
    if (const auto* s = std::get_if<std::string>(&v)) return !s->empty();
    return !std::get<1>(v)->empty();
}

inline std::vector<std::string> words(std::string_view s) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < s.size();) {
        if (s[i] == ' ') {
            ++i;
        } else if (s[i] == '"') {
            const std::size_t end = s.find('"', i + 1);
            if (end == std::string_view::npos) throw std::runtime_error("unterminated string in '" + std::string(s) + "'");
            out.emplace_back(s.substr(i, end + 1 - i));
            i = end + 1;
        } else {
            const std::size_t end = std::min(s.find(' ', i), s.size());
            out.emplace_back(s.substr(i, end - i));
            i = end;
        }
    }
    return out;
}

inline Value field(const Scope& sc, const std::string& w) {
    const bool root = w.starts_with("$.");
    const std::string name = w.substr(root ? 2 : 1);
    if (!root && sc.dot) {
        if (name == "Role") return sc.dot->role;
        if (name == "Content") return sc.dot->content;
        throw std::runtime_error("a message has no field ." + name);
    }
    if (name == "System") return *sc.system;
    if (name == "Messages") return sc.messages;
    throw std::runtime_error("the root has no field ." + name);
}

inline Value argument(const Scope& sc, const std::string& w) {
    if (w.starts_with("\"")) return w.substr(1, w.size() - 2);
    if (w.starts_with(".") || w.starts_with("$.")) return field(sc, w);
    throw std::runtime_error("unsupported argument '" + w + "'");
}

inline Value pipeline(const Scope& sc, const std::vector<std::string>& w) {
    if (w.empty()) throw std::runtime_error("empty pipeline");
    if (w[0] == "eq" && w.size() == 3)
        return std::string(argument(sc, w[1]) == argument(sc, w[2]) ? "true" : "");
    if (w[0] == "and" && w.size() == 3)
        return std::string(truthy(argument(sc, w[1])) && truthy(argument(sc, w[2])) ? "true" : "");
    if (w[0] == "not" && w.size() == 2) return std::string(truthy(argument(sc, w[1])) ? "" : "true");
    if (w.size() == 1) return argument(sc, w[0]);
    throw std::runtime_error("unsupported pipeline '" + w[0] + " ...'");
}

// The template as text pieces and actions, trim markers applied.
struct Token {
    bool action;
    std::string text;  // the text, or the action's body without delimiters and trim markers
};

inline std::vector<Token> lex(std::string_view src) {
    std::vector<Token> out;
    bool trim_next = false;
    for (std::size_t pos = 0;;) {
        const std::size_t open = src.find("{{", pos);
        std::string text(src.substr(pos, open == std::string_view::npos ? std::string_view::npos : open - pos));
        if (trim_next) text.erase(0, std::min(text.find_first_not_of(" \t\r\n"), text.size()));
        if (open == std::string_view::npos) {
            out.push_back({false, text});
            return out;
        }
        const std::size_t close = src.find("}}", open);
        if (close == std::string_view::npos) throw std::runtime_error("unclosed action");
        std::string body(src.substr(open + 2, close - open - 2));
        if (body.starts_with("- ")) {
            body.erase(0, 2);
            text.erase(text.find_last_not_of(" \t\r\n") + 1);
        }
        trim_next = body.ends_with(" -");
        if (trim_next) body.erase(body.size() - 2);
        out.push_back({false, text});
        if (words(body).empty()) throw std::runtime_error("empty action");
        out.push_back({true, body});
        pos = close + 2;
    }
}

// Renders tokens[i..] (appending to `out` only when `live`: a branch not taken is walked to find
// its end) until an {{ end }} / {{ else ... }} at this level, which it returns the
// index of (tokens.size() at the end of the template).
inline std::size_t render(const std::vector<Token>& t, std::size_t i, const Scope& sc, bool live, std::string& out);

inline std::size_t skip_block(const std::vector<Token>& t, std::size_t i, const Scope& sc) {
    std::string ignored;
    return render(t, i, sc, false, ignored);
}

inline std::size_t render(const std::vector<Token>& t, std::size_t i, const Scope& sc, bool live, std::string& out) {
    for (; i < t.size(); ++i) {
        if (!t[i].action) {
            if (live) out += t[i].text;
            continue;
        }
        const std::vector<std::string> w = words(t[i].text);
        if (w[0] == "end" || w[0] == "else") return i;
        if (w[0] == "range") {
            std::size_t end = skip_block(t, i + 1, sc);
            if (live)
                for (const OllamaMessage& m : *std::get<1>(pipeline(sc, {w.begin() + 1, w.end()})))
                    render(t, i + 1, {sc.system, sc.messages, &m}, true, out);
            if (end == t.size() || words(t[end].text)[0] != "end") throw std::runtime_error("range without end");
            i = end;
        } else if (w[0] == "if") {
            bool taken = live && truthy(pipeline(sc, {w.begin() + 1, w.end()}));
            std::size_t at = render(t, i + 1, sc, taken, out);
            bool done = taken;
            if (at == t.size()) throw std::runtime_error("if without end");
            while (words(t[at].text)[0] == "else") {
                const std::vector<std::string> e = words(t[at].text);
                const bool branch = live && !done && (e.size() == 1 || (e[1] == "if" && truthy(pipeline(sc, {e.begin() + 2, e.end()}))));
                at = render(t, at + 1, sc, branch, out);
                done = done || branch;
                if (at == t.size()) throw std::runtime_error("else without end");
            }
            i = at;  // at {{ end }}
        } else if (live) {
            out += std::get<std::string>(pipeline(sc, w));
        }
    }
    return i;
}

}  // namespace go_template

// Ollama's prompt for `chat` under a Modelfile's TEMPLATE and SYSTEM.
inline std::string render_ollama_chat(std::string_view tmpl, const std::string& modelfile_system,
                                      std::vector<OllamaMessage> chat) {
    if (!modelfile_system.empty() && (chat.empty() || chat.front().role != "system"))
        chat.insert(chat.begin(), {"system", modelfile_system});
    std::vector<OllamaMessage> collated;
    std::string system;
    for (const OllamaMessage& m : chat) {
        if (m.role == "system") system += (system.empty() ? "" : "\n\n") + m.content;
        if (!collated.empty() && collated.back().role == m.role) collated.back().content += "\n\n" + m.content;
        else collated.push_back(m);
    }
    const std::vector<go_template::Token> tokens = go_template::lex(tmpl);
    std::string out;
    const std::size_t end = go_template::render(tokens, 0, {&system, &collated, nullptr}, true, out);
    if (end != tokens.size()) throw std::runtime_error("unexpected {{ " + tokens[end].text + " }}");
    return out;
}

}  // namespace qls::test
