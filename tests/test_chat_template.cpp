// Chat template rendering against real Jinja2: every template in tests/fixtures/chat_templates
// over every conversation there, and the semantics snippets, are rendered by
// render_jinja2.py (python3-jinja2 set up as transformers does) and must match byte for byte;
// the reference chat.json files written by transformers must match too.
#include <QProcess>
#include <QtTest>

#include <fstream>
#include <sstream>
#include <thread>

#include "core/template/chat_template.h"
#include "test_support.h"

using nlohmann::ordered_json;

namespace {

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::filesystem::path template_dir() { return qls::test::fixture_dir() / "chat_templates"; }

std::tm fixed_now() {
    std::tm tm{};
    tm.tm_year = 2024 - 1900;
    tm.tm_mon = 6;
    tm.tm_mday = 26;
    tm.tm_hour = 10;
    tm.tm_min = 30;
    timegm(&tm);  // fills tm_wday / tm_yday
    return tm;
}

struct Case {
    std::string label;
    std::string source;
    ordered_json context;
};

struct Outcome {
    bool ok = false;
    std::string text;  // output, or the error message
};

Outcome render_ours(const Case& c) {
    try {
        qls::ChatRenderOptions options;
        options.now = fixed_now();
        return {true, qls::ChatTemplate(c.source).render(c.context, options)};
    } catch (const qls::Error& e) {
        return {false, e.what()};
    }
}

// Runs render_jinja2.py once over all cases; fails the test when python3 or jinja2 is missing.
ordered_json render_jinja2(const std::vector<Case>& cases) {
    ordered_json batch = ordered_json::array();
    for (const auto& c : cases) batch.push_back({{"template", c.source}, {"context", c.context}, {"now", {2024, 7, 26, 10, 30, 0}}});
    QProcess py;
    py.start("python3", {QString::fromStdString((template_dir() / "render_jinja2.py").string())});
    if (!py.waitForStarted(20000)) return {{"error", "python3 could not be started; install python3 and python3-jinja2"}};
    const std::string input = batch.dump();
    py.write(input.data(), static_cast<qint64>(input.size()));
    py.closeWriteChannel();
    py.waitForFinished(120000);
    const QByteArray out = py.readAllStandardOutput();
    if (py.exitStatus() != QProcess::NormalExit || py.exitCode() != 0)
        return {{"error", "render_jinja2.py failed (is python3-jinja2 installed?): " + py.readAllStandardError().toStdString()}};
    return ordered_json::parse(out.toStdString());
}

// Compares our renders with Jinja2's; returns the mismatches, described.
std::vector<std::string> compare_with_jinja2(const std::vector<Case>& cases, int& raised_checked) {
    const ordered_json expected = render_jinja2(cases);
    if (expected.is_object()) return {expected["error"].get<std::string>()};
    if (expected.size() != cases.size()) return {"render_jinja2.py returned the wrong number of results"};
    std::vector<std::string> failures;
    for (size_t i = 0; i < cases.size(); ++i) {
        const Outcome ours = render_ours(cases[i]);
        const auto& want = expected[i];
        if (want["ok"].get<bool>()) {
            const std::string text = want["text"].get<std::string>();
            if (!ours.ok) failures.push_back(cases[i].label + ": we failed (" + ours.text + "), Jinja2 rendered " + ordered_json(text).dump());
            else if (ours.text != text)
                failures.push_back(cases[i].label + ":\n  jinja2: " + ordered_json(text).dump() + "\n  ours:   " + ordered_json(ours.text).dump());
        } else if (ours.ok) {
            failures.push_back(cases[i].label + ": Jinja2 failed (" + want["error"].get<std::string>() + ") but we rendered " +
                               ordered_json(ours.text).dump());
        } else if (want["raised"].get<bool>()) {
            ++raised_checked;
            if (ours.text != want["error"].get<std::string>())
                failures.push_back(cases[i].label + ": raise_exception message differs: jinja2 '" + want["error"].get<std::string>() +
                                   "', ours '" + ours.text + "'");
        }
    }
    return failures;
}

void report(const std::vector<std::string>& failures, size_t total) {
    for (const auto& f : failures) qWarning("%s", f.c_str());
    QVERIFY2(failures.empty(), qPrintable(QString("%1 of %2 renders differ from Jinja2").arg(failures.size()).arg(total)));
}

}  // namespace

class TestChatTemplate : public QObject {
    Q_OBJECT

private slots:
    void reference_fixtures_match_transformers();
    void real_templates_match_jinja2();
    void semantics_snippets_match_jinja2();
    void raise_exception_surfaces_message();
    void unsupported_constructs_fail_at_parse();
    void hostile_templates_fail_cleanly();
    void generation_spans_mark_assistant_text();
    void renders_concurrently();
    void render_speed();
};

void TestChatTemplate::reference_fixtures_match_transformers() {
    int checked = 0;
    for (const auto& entry : std::filesystem::directory_iterator(qls::test::ref_dir() / "models")) {
        const auto chat_path = entry.path() / "chat.json";
        if (!std::filesystem::exists(chat_path)) continue;
        const ordered_json chat = ordered_json::parse(read_file(chat_path));
        const ordered_json config = ordered_json::parse(read_file(entry.path() / "tokenizer_config.json"));
        const qls::ChatTemplate tmpl(config["chat_template"].get<std::string>());
        for (int gen = 0; gen < 2; ++gen) {
            ordered_json ctx;
            ordered_json messages = chat["messages"];
            if (!gen) messages.erase(messages.end() - 1);  // transformers rendered messages[:3]
            ctx["messages"] = messages;
            ctx["add_generation_prompt"] = gen == 1;
            for (const char* tok : {"bos_token", "eos_token"})  // special_tokens_map drops unset tokens
                if (config.contains(tok) && !config[tok].is_null()) ctx[tok] = config[tok];
            const std::string want = chat[gen ? "rendered_gen1" : "rendered_gen0"].get<std::string>();
            QCOMPARE(QString::fromStdString(tmpl.render(ctx)), QString::fromStdString(want));
            ++checked;
        }
    }
    QCOMPARE(checked, 8);
}

void TestChatTemplate::real_templates_match_jinja2() {
    const ordered_json conversations = ordered_json::parse(read_file(template_dir() / "conversations.json"));
    std::vector<Case> cases;
    int templates = 0;
    for (const auto& entry : std::filesystem::directory_iterator(template_dir())) {
        if (entry.path().extension() != ".jinja") continue;
        ++templates;
        const std::string source = read_file(entry.path());
        for (const auto& conv : conversations) {
            for (bool gen : {false, true}) {
                ordered_json ctx = conv["context"];
                ctx["add_generation_prompt"] = gen;
                ctx["bos_token"] = "<|bos|>";
                ctx["eos_token"] = "<|eos|>";
                cases.push_back({entry.path().filename().string() + " / " + conv["name"].get<std::string>() + (gen ? " / gen" : ""),
                                 source, ctx});
            }
        }
    }
    QVERIFY(templates >= 15);
    int raised = 0;
    const auto failures = compare_with_jinja2(cases, raised);
    report(failures, cases.size());
    QVERIFY2(raised > 0, "expected some templates to reject the non-alternating conversation");
    qInfo("%zu renders of %d templates match Jinja2 (%d raise_exception messages compared)", cases.size(), templates, raised);
}

void TestChatTemplate::semantics_snippets_match_jinja2() {
    const ordered_json snippets = ordered_json::parse(read_file(template_dir() / "snippets.json"));
    std::vector<Case> cases;
    for (const auto& s : snippets) cases.push_back({s["name"].get<std::string>(), s["template"].get<std::string>(), s["context"]});
    int raised = 0;
    const auto failures = compare_with_jinja2(cases, raised);
    report(failures, cases.size());
    QCOMPARE(raised, 1);
}

void TestChatTemplate::raise_exception_surfaces_message() {
    const qls::ChatTemplate gemma(read_file(template_dir() / "gemma-2-2b-it.jinja"));
    ordered_json ctx;
    ctx["messages"] = ordered_json::array({{{"role", "user"}, {"content", "a"}}, {{"role", "user"}, {"content", "b"}}});
    QLS_VERIFY_THROWS_WITH(gemma.render(ctx), qls::DataError, "Conversation roles must alternate user/assistant/user/assistant/...");
    ctx["messages"] = ordered_json::array({{{"role", "system"}, {"content", "s"}}});
    QLS_VERIFY_THROWS_WITH(gemma.render(ctx), qls::DataError, "System role not supported");
}

void TestChatTemplate::unsupported_constructs_fail_at_parse() {
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("a\nb {{ x }}\n  {{ text | wordwrap(10) }}"), qls::FormatError,
                           "chat template line 3, column 13: unsupported filter 'wordwrap'");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{% include 'x.jinja' %}"), qls::FormatError, "line 1, column 4: unsupported tag 'include'");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ x is prime }}"), qls::FormatError, "unknown test 'prime'");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ x | nosuch }}"), qls::FormatError, "unknown filter 'nosuch'");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{% set l = [] %}{{ l.append(1) }}"), qls::FormatError, "unsupported method 'append'");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{% if x %}no end"), qls::FormatError, "expected 'elif' or 'else' or 'endif'");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ 'open }}"), qls::FormatError, "unterminated string literal");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{% for x in y recursive %}{% endfor %}"), qls::FormatError, "recursive");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ lipsum() }}"), qls::FormatError, "unsupported function 'lipsum'");
    // A render-time failure names its position too.
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("ok\n{{ 'a' + 1 }}").render(ordered_json::object()), qls::DataError,
                           "chat template line 2, column 8: unsupported operand type(s) for +: 'str' and 'int'");
}

// A chat template comes with a downloaded model. These used to overflow the stack (exit 139) or
// throw std::bad_alloc; each is now a FormatError (at parse) or DataError (at render) naming its
// position. A test that crashed the process would fail the whole suite, not just this row.
void TestChatTemplate::hostile_templates_fail_cleanly() {
    auto rep = [](const std::string& s, int n) {
        std::string out;
        for (int i = 0; i < n; ++i) out += s;
        return out;
    };
    const ordered_json none = ordered_json::object();
    // Found by fuzz_chat_template: a float literal past double's range ended in an uncaught
    // std::out_of_range. Python's float() gives inf and 0.0.
    QCOMPARE(qls::render_chat_template("{{ 3333333333333333333333333333330000e002663983 }} {{ -1e999 }} {{ 1e-999 }}", none),
             std::string("inf -inf 0.0"));
    const char crash[] = "{% for message in messF\0es %}{% 3333333333333333333333333333330000e002663983}";
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate(std::string(crash, sizeof crash - 1)), qls::FormatError, "");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ " + rep("(", 5000) + "1" + rep(")", 5000) + " }}"), qls::FormatError,
                           "nests more than 64 levels");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ " + rep("[", 5000) + "1" + rep("]", 5000) + " }}"), qls::FormatError,
                           "nests more than 64 levels");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ " + rep("-", 20000) + "1 }}"), qls::FormatError, "nests more than 64");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ " + rep("not ", 20000) + "x }}"), qls::FormatError, "nests more than 64");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate(rep("{% if x %}", 5000) + rep("{% endif %}", 5000)), qls::FormatError,
                           "nests more than 64");
    // Chains are built without recursion, but rendering one would recurse through it.
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ 1" + rep(" + 1", 50000) + " }}"), qls::FormatError,
                           "an expression nests more than 512 operations deep");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ x" + rep(" | trim", 50000) + " }}"), qls::FormatError,
                           "nests more than 512");
    // A chain at the limit is fine, and a realistic one renders.
    QCOMPARE(qls::ChatTemplate("{{ 0" + rep(" + 1", 500) + " }}").render(none), std::string("500"));
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ 'x' * 100000000000 }}").render(none), qls::DataError,
                           "line 1, column 8: the template builds a string of more than 64 MiB");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ [1, 2] * 100000000000 }}").render(none), qls::DataError,
                           "builds a list of more than 1048576 items");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ 'x' * 1e11 }}").render(none), qls::DataError,
                           "unsupported operand type(s) for *: 'str' and 'float'");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{{ 'x' | indent(100000000000) }}").render(none), qls::DataError,
                           "more than 64 MiB");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{% set ns = namespace(s='x') %}{% for i in range(40) %}"
                                             "{% set ns.s = ns.s ~ ns.s %}{% endfor %}")
                               .render(none),
                           qls::DataError, "more than 64 MiB");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{% for i in range(70000) %}{{ 'y' * 1000 }}{% endfor %}").render(none),
                           qls::DataError, "the template's output passes 64 MiB");
    QLS_VERIFY_THROWS_WITH(qls::ChatTemplate("{% for i in range(100000) %}{% for j in range(100000) %}"
                                             "{% endfor %}{% endfor %}")
                               .render(none),
                           qls::DataError, "loops ran more than 10000000 iterations");
}

void TestChatTemplate::generation_spans_mark_assistant_text() {
    const qls::ChatTemplate tmpl(
        "{% for m in messages %}<{{ m.role }}>{% if m.role == 'assistant' %}{% generation %}{{ m.content }}</s>"
        "{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}");
    ordered_json ctx;
    ctx["messages"] = ordered_json::array({{{"role", "user"}, {"content", "q1"}}, {{"role", "assistant"}, {"content", "a1"}},
                                           {{"role", "user"}, {"content", "q2"}}, {{"role", "assistant"}, {"content", "ä2"}}});
    const qls::ChatRenderResult r = tmpl.render_with_spans(ctx);
    QCOMPARE(QString::fromStdString(r.text), QString::fromUtf8("<user>q1<assistant>a1</s><user>q2<assistant>ä2</s>"));
    QCOMPARE(r.generation_spans.size(), size_t{2});
    QCOMPARE(r.text.substr(r.generation_spans[0].first, r.generation_spans[0].second - r.generation_spans[0].first), std::string("a1</s>"));
    QCOMPARE(r.text.substr(r.generation_spans[1].first, r.generation_spans[1].second - r.generation_spans[1].first), std::string("ä2</s>"));
}

void TestChatTemplate::renders_concurrently() {
    const qls::ChatTemplate tmpl(read_file(template_dir() / "llama-3.1-8b-instruct.jinja"));
    const ordered_json conversations = ordered_json::parse(read_file(template_dir() / "conversations.json"));
    qls::ChatRenderOptions options;
    options.now = fixed_now();
    std::vector<std::string> want;
    for (const auto& c : conversations) {
        try {
            want.push_back(tmpl.render(c["context"], options));
        } catch (const qls::Error& e) {
            want.push_back(std::string("error: ") + e.what());
        }
    }
    std::vector<int> mismatches(8, 0);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < mismatches.size(); ++t) {
        threads.emplace_back([&, t] {
            for (int rep = 0; rep < 20; ++rep) {
                for (size_t i = 0; i < conversations.size(); ++i) {
                    std::string got;
                    try {
                        got = tmpl.render(conversations[i]["context"], options);
                    } catch (const qls::Error& e) {
                        got = std::string("error: ") + e.what();
                    }
                    if (got != want[i]) ++mismatches[t];
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    for (int m : mismatches) QCOMPARE(m, 0);
}

void TestChatTemplate::render_speed() {
    const qls::ChatTemplate tmpl(read_file(template_dir() / "qwen2.5-7b-instruct.jinja"));
    const ordered_json conversations = ordered_json::parse(read_file(template_dir() / "conversations.json"));
    const ordered_json ctx = conversations[0]["context"];
    QElapsedTimer timer;
    timer.start();
    const int n = 2000;
    size_t bytes = 0;
    for (int i = 0; i < n; ++i) bytes += tmpl.render(ctx).size();
    const double us = static_cast<double>(timer.nsecsElapsed()) / 1e3 / n;
    qInfo("Qwen2.5 template, 5-message conversation: %.1f us per render (%zu bytes)", us, bytes / n);
    QVERIFY(bytes > 0);
}

QTEST_GUILESS_MAIN(TestChatTemplate)
#include "test_chat_template.moc"
