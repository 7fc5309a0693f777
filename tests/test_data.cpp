// The training-data pipeline (core/data): readers (JSONL, JSON array, CSV quoting), record
// forms and their detection, the named and model chat templates with response-only masks
// (against transformers' tokenizations in shared/fixtures/ref/models/*/chat.json and the real
// templates of tests/fixtures/chat_templates), truncation, packing, the seeded split, bad data
// under both policies, and the resumable batch sampler.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "core/data/batch_sampler.h"
#include "core/data/chat_format.h"
#include "core/data/dataset.h"
#include "core/data/dataset_reader.h"
#include "core/data/perplexity_chunks.h"
#include "core/data/record_form.h"
#include "core/template/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "tests/test_support.h"

using nlohmann::json;
using nlohmann::ordered_json;
using namespace qls;
using qls::test::ref_dir;
using qls::test::source_dir;

namespace {

const Tokenizer& tokenizer_at(const std::filesystem::path& dir) {
    static std::map<std::string, Tokenizer> cache;
    auto it = cache.find(dir.string());
    if (it == cache.end()) it = cache.emplace(dir.string(), load_tokenizer(dir)).first;
    return it->second;
}
const Tokenizer& demo_tok() { return tokenizer_at(source_dir() / "resources" / "demo" / "model"); }
const Tokenizer& ref_tok(const char* model) { return tokenizer_at(ref_dir() / "models" / model); }

std::tm fixed_now() {
    std::tm t{};
    t.tm_year = 2024 - 1900, t.tm_mon = 6, t.tm_mday = 26, t.tm_hour = 10, t.tm_min = 30, t.tm_wday = 5, t.tm_yday = 207;
    return t;
}

std::vector<int> as_ints(const std::vector<std::int32_t>& v) { return {v.begin(), v.end()}; }

// Decoded runs of consecutive trained tokens: one per trained assistant turn.
std::vector<std::string> trained_runs(const Tokenizer& tok, const TokenizedExample& ex) {
    std::vector<std::string> runs;
    std::vector<int> run;
    for (std::size_t i = 0; i <= ex.ids.size(); ++i) {
        if (i < ex.ids.size() && ex.trained[i]) {
            run.push_back(ex.ids[i]);
        } else if (!run.empty()) {
            runs.push_back(tok.decode(run));
            run.clear();
        }
    }
    return runs;
}

// Without any whitespace: decoders (SentencePiece's leading-space strip) and templates
// (trim) move spaces around; every other character must match.
std::string squash(std::string_view s) {
    std::string out;
    for (char c : s)
        if (c != ' ' && c != '\n' && c != '\t' && c != '\r') out += c;
    return out;
}

QStringList qlist(const std::vector<std::string>& v) {
    QStringList l;
    for (const auto& s : v) l << QString::fromStdString(s);
    return l;
}

Conversation chat(std::initializer_list<std::pair<Role, const char*>> turns) {
    Conversation c;
    for (const auto& [role, text] : turns) c.messages.push_back({role, text});
    return c;
}

const Conversation& two_turns() {
    static const Conversation c = chat({{Role::System, "Be brief."}, {Role::User, "Hi there"}, {Role::Assistant, "Hello!"},
                                        {Role::User, "What is 2+2?"}, {Role::Assistant, "4."}});
    return c;
}

std::filesystem::path write(const test::ScratchDir& dir, const char* name, std::string_view bytes) {
    const auto p = dir.path() / name;
    test::write_bytes(p, bytes);
    return p;
}

std::vector<std::size_t> lines_of(const std::vector<RawRecord>& rs) {
    std::vector<std::size_t> out;
    for (const auto& r : rs) out.push_back(r.line);
    return out;
}

// A tokenizer.json with extra special added tokens: the byte-level llama3-tiny vocabulary plus
// the markers of the real templates, so their turns tokenize as real models do.
Tokenizer with_specials(const std::vector<std::string>& specials, const char* bos, const char* eos) {
    json j = json::parse(test::read_bytes(ref_dir() / "models" / "llama3-tiny" / "tokenizer.json"));
    int next = 0;
    std::set<std::string> have;
    for (const auto& a : j["added_tokens"]) next = std::max(next, a["id"].get<int>() + 1), have.insert(a["content"]);
    for (const auto& [tok, id] : j["model"]["vocab"].items()) next = std::max(next, id.get<int>() + 1);
    for (const std::string& s : specials)
        if (have.insert(s).second)
            j["added_tokens"].push_back({{"id", next++}, {"content", s}, {"single_word", false}, {"lstrip", false},
                                         {"rstrip", false}, {"normalized", false}, {"special", true}});
    Tokenizer tok = Tokenizer::from_json_string(j.dump(), "llama3-tiny+specials");
    TokenizerConfig cfg;
    if (*bos) cfg.bos_token = bos, cfg.add_bos_token = true;
    cfg.eos_token = eos;
    tok.apply_config(cfg);
    return tok;
}

TokenizedExample example(std::vector<std::int32_t> ids, std::vector<std::uint8_t> trained) {
    TokenizedExample e;
    e.ids = std::move(ids);
    e.trained = std::move(trained);
    e.full_length = e.ids.size();
    return e;
}

}  // namespace

class TestData : public QObject {
    Q_OBJECT

private slots:
    void jsonl_reader();
    void json_array_reader();
    void csv_reader_quoting();
    void forms_convert();
    void detect_override_and_mapping();
    void chatml_mask_on_demo_tokenizer();
    void boundary_inside_a_token();
    void named_templates_data();
    void named_templates();
    void alpaca_input_section();
    void named_template_needs_its_tokens();
    void fixture_model_templates_data();
    void fixture_model_templates();
    void real_templates_data();
    void real_templates();
    void truncation_counts();
    void bad_data_skip_and_stop();
    void empty_dataset_refused();
    void split_is_seeded();
    void packing_segments_and_positions();
    void sampler_resume_gives_same_batches();
    void sampler_epochs_and_padding();
    void eval_batches_deterministic();
    void demo_dataset_prepares_cleanly();
    void perplexity_chunks_protocol();
};


void TestData::jsonl_reader() {
    IssueLog log(BadDataPolicy::Skip);
    const auto rs = parse_records("{\"text\": \"a\"}\n\n{\"text\": \"b\"}\r\n{bad\n[1]\n  {\"text\": \"c\"}", FileFormat::Auto, "f.jsonl", log);
    QCOMPARE(lines_of(rs), (std::vector<std::size_t>{1, 3, 6}));
    QCOMPARE(rs[1].value["text"].get<std::string>(), std::string("b"));
    QCOMPARE(log.issues().size(), std::size_t{2});
    QCOMPARE(log.issues()[0].line, std::size_t{4});
    QVERIFY(log.issues()[0].to_string().starts_with("f.jsonl:4: malformed JSON"));
    QCOMPARE(log.issues()[1].line, std::size_t{5});
    QVERIFY(log.issues()[1].reason.find("expected a JSON object, got array") != std::string::npos);
}

void TestData::json_array_reader() {
    IssueLog log(BadDataPolicy::Skip);
    const char* text = "\xEF\xBB\xBF[\n  {\"text\": \"one, [two]\"},\n  {\"text\": \"two\",},\n  {\"text\":\n     \"thr\\\"ee\"},\n"
                       "  \"four\"\n]\n";
    const auto rs = parse_records(text, FileFormat::Auto, "f.json", log);
    QCOMPARE(lines_of(rs), (std::vector<std::size_t>{2, 4}));
    QCOMPARE(rs[0].element, std::size_t{1});
    QCOMPARE(rs[1].element, std::size_t{3});
    QCOMPARE(rs[1].value["text"].get<std::string>(), std::string("thr\"ee"));
    QCOMPARE(log.issues().size(), std::size_t{2});
    QCOMPARE(QString::fromStdString(log.issues()[0].to_string()).left(35), QString("f.json:3 (element 2): malformed JSO"));
    QCOMPARE(log.issues()[1].line, std::size_t{6});
    QCOMPARE(log.issues()[1].element, std::size_t{4});
    IssueLog log2(BadDataPolicy::Skip);
    QVERIFY(parse_records("[{\"text\": \"a\"}", FileFormat::JsonArray, "g.json", log2).size() == 1);
    QVERIFY(log2.issues().at(0).reason.find("not closed") != std::string::npos);
}

void TestData::csv_reader_quoting() {
    IssueLog log(BadDataPolicy::Skip);
    const char* text =
        "question,answer,note\r\n"
        "\"What is 1,2?\",\"It is \"\"two\"\" numbers\",x\r\n"
        "\"multi\nline\",ok,\n"
        "\n"
        "plain,\"a \"\"quoted\"\" word\",z\n"
        "only,two\n"
        "x,\"bad\"y,z\n"
        "a,b\"c,d\n"
        "last,\"open\n";
    const auto rs = parse_records(text, FileFormat::Csv, "f.csv", log);
    QCOMPARE(lines_of(rs), (std::vector<std::size_t>{2, 3, 6}));
    QCOMPARE(rs[0].value["question"].get<std::string>(), std::string("What is 1,2?"));
    QCOMPARE(rs[0].value["answer"].get<std::string>(), std::string("It is \"two\" numbers"));
    QCOMPARE(rs[1].value["question"].get<std::string>(), std::string("multi\nline"));
    QCOMPARE(rs[1].value["note"].get<std::string>(), std::string());
    QCOMPARE(rs[2].value["answer"].get<std::string>(), std::string("a \"quoted\" word"));
    std::vector<std::string> got;
    for (const auto& i : log.issues()) got.push_back(i.to_string());
    QCOMPARE(got.size(), std::size_t{4});
    QVERIFY(got[0].starts_with("f.csv:7: expected 3 fields as in the header, got 2"));
    QVERIFY(got[1].starts_with("f.csv:8: text after the closing quote"));
    QVERIFY(got[2].starts_with("f.csv:9: a double quote inside an unquoted field"));
    QVERIFY(got[3].starts_with("f.csv:10: a quoted field opened on this line is never closed"));
    // A stray quote costs its own line only: the rows after it are read (they used to vanish
    // into one endless quoted field).
    IssueLog stray(BadDataPolicy::Skip);
    const auto after = parse_records("q,a\n1,\"oops\n2,two\n3,\"three, quoted\"\n", FileFormat::Csv, "s.csv", stray);
    QCOMPARE(lines_of(after), (std::vector<std::size_t>{3, 4}));
    QCOMPARE(after[1].value["a"].get<std::string>(), std::string("three, quoted"));
    QCOMPARE(stray.issues().size(), std::size_t{1});
    QCOMPARE(stray.issues()[0].line, std::size_t{2});
    // By extension through read_records, with a non-UTF-8 cell.
    test::ScratchDir dir;
    IssueLog log2(BadDataPolicy::Skip);
    const auto rs2 = read_records(write(dir, "d.csv", "a,b\n1,caf\xE9\n2,ok\n"), FileFormat::Auto, log2);
    QCOMPARE(lines_of(rs2), (std::vector<std::size_t>{3}));
    QVERIFY(log2.issues().at(0).reason.find("not valid UTF-8") != std::string::npos);
}

void TestData::forms_convert() {
    const FieldMapping m;
    Conversation a = to_conversation(ordered_json::parse(R"({"instruction":"Add","input":"2 2","output":"4","system":"Be exact"})"),
                                     DataForm::Alpaca, m);
    QCOMPARE(a.messages.size(), std::size_t{3});
    QCOMPARE(a.messages[0].role, Role::System);
    QCOMPARE(a.input, std::string("2 2"));
    QCOMPARE(messages_for_chat(a)[1].content, std::string("Add\n\n2 2"));
    Conversation c = to_conversation(ordered_json::parse(R"({"messages":[{"role":"user","content":"q"},
        {"role":"assistant","content":"a"},{"role":"user","content":"trailing"}]})"), DataForm::Chat, m);
    QCOMPARE(c.messages.size(), std::size_t{2});  // nothing to train after the last answer
    Conversation s = to_conversation(ordered_json::parse(R"({"conversations":[{"from":"system","value":"S"},
        {"from":"human","value":"hi"},{"from":"gpt","value":"yo"}]})"), DataForm::ShareGpt, m);
    QCOMPARE(s.messages.size(), std::size_t{3});
    QCOMPARE(s.messages[1].role, Role::User);
    QCOMPARE(s.messages[2].role, Role::Assistant);
    QCOMPARE(s.messages[2].content, std::string("yo"));
    Conversation p = to_conversation(ordered_json::parse(R"({"prompt":"P","completion":"C"})"), DataForm::PromptCompletion, m);
    QCOMPARE(p.messages[0].content + p.messages[1].content, std::string("PC"));
    Conversation t = to_conversation(ordered_json::parse(R"({"text":"T"})"), DataForm::Text, m);
    QVERIFY(t.plain_text);
    QLS_VERIFY_THROWS_WITH(to_conversation(ordered_json::parse(R"({"conversations":[{"from":"tool","value":"x"}]})"),
                                           DataForm::ShareGpt, m), DataError, "unsupported speaker 'tool'");
    QLS_VERIFY_THROWS_WITH(to_conversation(ordered_json::parse(R"({"instruction":5,"output":"x"})"), DataForm::Alpaca, m),
                           DataError, "field 'instruction' is number");
    QLS_VERIFY_THROWS_WITH(to_conversation(ordered_json::parse(R"({"instruction":"i"})"), DataForm::Alpaca, m), DataError,
                           "missing field 'output'");
}

void TestData::detect_override_and_mapping() {
    const FieldMapping m;
    auto detect = [&](const char* j) { return detect_form(ordered_json::parse(j), m); };
    QCOMPARE(detect(R"({"messages":[]})"), std::optional(DataForm::Chat));
    QCOMPARE(detect(R"({"conversations":[]})"), std::optional(DataForm::ShareGpt));
    QCOMPARE(detect(R"({"instruction":"","output":""})"), std::optional(DataForm::Alpaca));
    QCOMPARE(detect(R"({"prompt":"","completion":""})"), std::optional(DataForm::PromptCompletion));
    QCOMPARE(detect(R"({"text":""})"), std::optional(DataForm::Text));
    QCOMPARE(detect(R"({"question":""})"), std::optional<DataForm>());
    // The first usable record decides; the override wins over detection.
    test::ScratchDir dir;
    const auto path = write(dir, "mixed.jsonl", "{\"id\": 1}\n{\"instruction\": \"Say hi\", \"output\": \"hi\", \"text\": \"raw hi\"}\n");
    DatasetOptions o;
    o.path = path;
    o.chat_template = TemplateKind::ChatML;
    o.valid_fraction = 0.0;
    const PreparedDataset auto_form = prepare_dataset(o, demo_tok());
    QCOMPARE(auto_form.form, DataForm::Alpaca);
    QCOMPARE(auto_form.issues.size(), std::size_t{1});  // {"id": 1} lacks 'instruction'
    QVERIFY(auto_form.issues[0].reason.find("missing field 'instruction'") != std::string::npos);
    o.form = DataForm::Text;
    const PreparedDataset text = prepare_dataset(o, demo_tok());
    QCOMPARE(text.form, DataForm::Text);
    QCOMPARE(QString::fromStdString(demo_tok().decode(as_ints(text.train.at(0).ids))), QString("<|endoftext|>raw hi<|im_end|>"));
    // A CSV whose columns are named by the user.
    const auto csv = write(dir, "qa.csv", "question,answer\n\"Capital of France, please?\",Paris\n");
    DatasetOptions q;
    q.path = csv;
    q.valid_fraction = 0.0;
    q.chat_template = TemplateKind::ChatML;
    QLS_VERIFY_THROWS_WITH(prepare_dataset(q, demo_tok()), ConfigError, "the first record has the keys [question, answer]");
    q.mapping.instruction = "question";
    q.mapping.output = "answer";
    const PreparedDataset mapped = prepare_dataset(q, demo_tok());
    QCOMPARE(mapped.form, DataForm::Alpaca);
    QCOMPARE(qlist(trained_runs(demo_tok(), mapped.train.at(0))), QStringList{"Paris<|im_end|>"});
}

void TestData::chatml_mask_on_demo_tokenizer() {
    const Tokenizer& tok = demo_tok();
    QCOMPARE(tok.eos_id(), std::optional(2));
    const Conversation c = chat({{Role::User, "Tell me a fortune."}, {Role::Assistant, "Arr, ye be rich soon!"}});
    const std::vector<int> user = tok.encode("Tell me a fortune.", false);
    const std::vector<int> answer = tok.encode("Arr, ye be rich soon!", false);
    for (TemplateKind kind : {TemplateKind::ChatML, TemplateKind::ModelTemplate}) {
        const TokenizedExample ex = ChatFormat(kind, tok).tokenize(c, false);
        // <|endoftext|> <|im_start|>user\n ... <|im_end|>\n<|im_start|>assistant\n ... <|im_end|>\n
        std::vector<int> want = {0, 1};
        for (int id : tok.encode("user\n", false)) want.push_back(id);
        want.insert(want.end(), user.begin(), user.end());
        want.push_back(2);
        for (int id : tok.encode("\n", false)) want.push_back(id);
        want.push_back(1);
        for (int id : tok.encode("assistant\n", false)) want.push_back(id);
        const std::size_t answer_at = want.size();
        want.insert(want.end(), answer.begin(), answer.end());
        want.push_back(2);
        for (int id : tok.encode("\n", false)) want.push_back(id);
        QCOMPARE(as_ints(ex.ids), want);
        for (std::size_t i = 0; i < want.size(); ++i) {
            const bool trained = i >= answer_at && i <= answer_at + answer.size();  // answer + <|im_end|>
            QVERIFY2(bool(ex.trained[i]) == trained, qPrintable(QString("%1 at %2").arg(int(kind)).arg(i)));
        }
        const TokenizedExample all = ChatFormat(kind, tok).tokenize(c, true);
        QCOMPARE(all.trained_tokens(), all.ids.size() - 1);  // all but the BOS, which nothing predicts
    }
}

// A label change inside what BPE merges into one token: the ids stay those of the whole text,
// the straddling token goes to the later (trained) piece.
void TestData::boundary_inside_a_token() {
    const Tokenizer& tok = demo_tok();
    const std::vector<TextPiece> pieces = {{"Say Hel", false}, {"lo world", true}};
    const LabeledTokens t = tokenize_pieces(tok, pieces);
    QCOMPARE(as_ints(t.ids), tok.encode("Say Hello world", false));
    const std::vector<int> prefix = tok.encode("Say Hel", false);
    QVERIFY(prefix.back() != t.ids[prefix.size() - 1]);  // "Hel" is not a token of the whole text
    QCOMPARE(t.straddles, std::size_t{1});
    std::size_t first_trained = 0;
    while (!t.trained[first_trained]) ++first_trained;
    const std::size_t shared = std::size_t(std::mismatch(prefix.begin(), prefix.end(), t.ids.begin()).first - prefix.begin());
    QCOMPARE(first_trained, shared);  // the token crossing "Hel|lo" is trained
    const std::string trained = tok.decode(std::vector<int>(t.ids.begin() + std::ptrdiff_t(first_trained), t.ids.end()));
    QVERIFY(trained.ends_with("lo world") && trained.size() > std::string("lo world").size());
}

void TestData::named_templates_data() {
    QTest::addColumn<int>("kind");
    QTest::addColumn<QString>("tokenizer");
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("bos_added");
    QTest::addColumn<QStringList>("runs");
    QTest::newRow("chatml") << int(TemplateKind::ChatML) << "demo"
        << "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
           "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4.<|im_end|>\n"
        << true << QStringList{"Hello!<|im_end|>", "4.<|im_end|>"};
    QTest::newRow("llama3") << int(TemplateKind::Llama3) << "llama3-tiny"
        << "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there"
           "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
           "What is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n4.<|eot_id|>"
        << true << QStringList{"Hello!<|eot_id|>", "4.<|eot_id|>"};
    QTest::newRow("llama2") << int(TemplateKind::Llama2) << "mistral-tiny"
        << "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello! </s><s>[INST] What is 2+2? [/INST] 4. </s>"
        << false << QStringList{"Hello! </s>", "4. </s>"};
    QTest::newRow("alpaca") << int(TemplateKind::Alpaca) << "llama3-tiny"
        << "Be brief.\n\n### Instruction:\nHi there\n\n### Response:\nHello!<|eot_id|>\n\n### Instruction:\nWhat is 2+2?\n\n"
           "### Response:\n4.<|eot_id|>"
        << true << QStringList{"Hello!<|eot_id|>", "4.<|eot_id|>"};
    QTest::newRow("zephyr") << int(TemplateKind::Zephyr) << "mistral-tiny"
        << "<|system|>\nBe brief.</s>\n<|user|>\nHi there</s>\n<|assistant|>\nHello!</s>\n<|user|>\nWhat is 2+2?</s>\n"
           "<|assistant|>\n4.</s>\n"
        << true << QStringList{"Hello!</s>", "4.</s>"};
    QTest::newRow("raw") << int(TemplateKind::Raw) << "demo" << "Be brief.Hi thereHello!<|im_end|>What is 2+2?4.<|im_end|>"
        << true << QStringList{"Hello!<|im_end|>", "4.<|im_end|>"};
}

void TestData::named_templates() {
    QFETCH(int, kind);
    QFETCH(QString, tokenizer);
    QFETCH(QString, text);
    QFETCH(bool, bos_added);
    QFETCH(QStringList, runs);
    const Tokenizer& tok = tokenizer == "demo" ? demo_tok() : ref_tok(tokenizer.toUtf8().constData());
    const TokenizedExample ex = ChatFormat(TemplateKind(kind), tok).tokenize(two_turns(), false);
    // The ids are those of the whole text (one BOS, prepended or written by the template).
    std::vector<int> want;
    if (bos_added) want.push_back(*tok.bos_id());
    for (int id : tok.encode(text.toStdString(), false)) want.push_back(id);
    QCOMPARE(as_ints(ex.ids), want);
    QVERIFY(ex.ids.size() < 2 || ex.ids[1] != *tok.bos_id());
    const std::vector<std::string> got = trained_runs(tok, ex);
    QCOMPARE(got.size(), std::size_t(runs.size()));
    for (std::size_t i = 0; i < got.size(); ++i) QCOMPARE(QString::fromStdString(squash(got[i])), QString::fromStdString(squash(runs[int(i)].toStdString())));
}

void TestData::alpaca_input_section() {
    const Tokenizer& tok = ref_tok("llama3-tiny");
    Conversation c = chat({{Role::User, "Translate to French"}, {Role::Assistant, "le chat"}});
    c.input = "the cat";
    const TokenizedExample ex = ChatFormat(TemplateKind::Alpaca, tok).tokenize(c, false);
    const std::string text =
        "<|begin_of_text|>Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n### Instruction:\nTranslate to French\n\n### Input:\n"
        "the cat\n\n### Response:\nle chat<|eot_id|>";
    QCOMPARE(QString::fromStdString(tok.decode(as_ints(ex.ids))), QString::fromStdString(text));
    QCOMPARE(qlist(trained_runs(tok, ex)), QStringList{"le chat<|eot_id|>"});
    // Chat templates see the input appended to the instruction.
    const TokenizedExample m = ChatFormat(TemplateKind::ModelTemplate, tok).tokenize(c, false);
    QVERIFY(tok.decode(as_ints(m.ids)).find("Translate to French\n\nthe cat<|eot_id|>") != std::string::npos);
}

void TestData::named_template_needs_its_tokens() {
    QLS_VERIFY_THROWS_WITH(ChatFormat(TemplateKind::ChatML, ref_tok("llama3-tiny")), ConfigError, "'<|im_start|>'");
    QLS_VERIFY_THROWS_WITH(ChatFormat(TemplateKind::Llama3, demo_tok()), ConfigError, "'<|start_header_id|>'");
    QLS_VERIFY_THROWS_WITH(ChatFormat(TemplateKind::Llama2, ref_tok("qwen2-tiny")), ConfigError, "needs an BOS token");
    QLS_VERIFY_THROWS_WITH(ChatFormat(TemplateKind::ModelTemplate, ref_tok("llama3-tiny"), "{% if %}"), FormatError,
                           "while parsing the model's chat template");
}

void TestData::fixture_model_templates_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("marker");
    QTest::newRow("llama3-tiny") << "llama3-tiny" << "<|eot_id|>";
    QTest::newRow("qwen2-tiny") << "qwen2-tiny" << "<|im_end|>";
    QTest::newRow("mistral-tiny") << "mistral-tiny" << "</s>";
}

// chat.json: ids_gen0 is transformers' tokenization of the first three messages (ending with
// the answer), ids_gen1 of all four with the generation prompt.
void TestData::fixture_model_templates() {
    QFETCH(QString, model);
    QFETCH(QString, marker);
    const Tokenizer& tok = ref_tok(model.toUtf8().constData());
    const json ref = json::parse(test::read_bytes(ref_dir() / "models" / model.toStdString() / "chat.json"));
    Conversation c;
    for (const auto& m : ref["messages"])
        c.messages.push_back({m["role"] == "system" ? Role::System : m["role"] == "user" ? Role::User : Role::Assistant,
                              m["content"].get<std::string>()});
    const ChatFormat format(TemplateKind::ModelTemplate, tok);
    Conversation three = c;
    three.messages.resize(3);
    const TokenizedExample ex = format.tokenize(three, false);
    QCOMPARE(as_ints(ex.ids), ref["ids_gen0"].get<std::vector<int>>());
    const QString answer = QString::fromStdString(c.messages[2].content);
    QCOMPARE(qlist(trained_runs(tok, ex)), QStringList{answer + marker});
    // A fourth answer: transformers' prompt ids come first, then exactly the new answer is trained.
    c.messages.push_back({Role::Assistant, "Another 4-bit type."});
    const TokenizedExample four = format.tokenize(c, false);
    const auto prompt = ref["ids_gen1"].get<std::vector<int>>();
    QVERIFY(four.ids.size() > prompt.size());
    QCOMPARE(as_ints(std::vector<std::int32_t>(four.ids.begin(), four.ids.begin() + std::ptrdiff_t(prompt.size()))), prompt);
    QCOMPARE(qlist(trained_runs(tok, four)), (QStringList{answer + marker, "Another 4-bit type." + marker}));
    QVERIFY(four.trained[prompt.size()] && !four.trained[prompt.size() - 1]);
}

void TestData::real_templates_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("bos");
    QTest::addColumn<QString>("eos");
    QTest::addColumn<QStringList>("runs");
    QTest::addColumn<QString>("error");
    auto both = [&](const QString& marker) { return QStringList{"Hello!" + marker, "4." + marker}; };
    QTest::newRow("deepseek-r1") << "deepseek-r1-distill-llama-8b" << "<｜begin▁of▁sentence｜>" << "<｜end▁of▁sentence｜>" << both("<｜end▁of▁sentence｜>") << "";
    QTest::newRow("gemma-2") << "gemma-2-2b-it" << "<bos>" << "<eos>" << both("<end_of_turn>") << "";
    QTest::newRow("gemma-7b") << "gemma-7b-it" << "<bos>" << "<eos>" << both("<end_of_turn>") << "";
    // The tool-use template iterates over `tools`, which a dataset without tools leaves None: a
    // record error, as with transformers.
    QTest::newRow("hermes-3") << "hermes-3-llama-3.1-8b-tool-use" << "<|begin_of_text|>" << "<|im_end|>" << QStringList{}
                              << "'NoneType' object is not iterable";
    QTest::newRow("llama-3.1") << "llama-3.1-8b-instruct" << "<|begin_of_text|>" << "<|eot_id|>" << both("<|eot_id|>") << "";
    QTest::newRow("llama-3.2") << "llama-3.2-3b-instruct" << "<|begin_of_text|>" << "<|eot_id|>" << both("<|eot_id|>") << "";
    QTest::newRow("mistral-v0.3") << "mistral-7b-instruct-v0.3" << "<s>" << "</s>" << both("</s>") << "";
    QTest::newRow("mistral-nemo") << "mistral-nemo-instruct-2407" << "<s>" << "</s>" << both("</s>") << "";
    // Phi-3 closes the conversation with EOS, which the last answer then also trains.
    const QStringList phi = {"Hello!<|end|>", "4.<|end|>\n<|endoftext|>"};
    QTest::newRow("phi-3") << "phi-3-mini-4k-instruct" << "<s>" << "<|endoftext|>" << phi << "";
    QTest::newRow("phi-3.5") << "phi-3.5-mini-instruct" << "<s>" << "<|endoftext|>" << phi << "";
    QTest::newRow("qwen2.5") << "qwen2.5-7b-instruct" << "" << "<|im_end|>" << both("<|im_end|>") << "";
    // Qwen3 drops the (empty) reasoning block from answers before the last question, so the
    // first answer renders differently in the whole conversation and is left untrained.
    QTest::newRow("qwen3") << "qwen3-0.6b" << "" << "<|im_end|>" << QStringList{"<think>\n\n</think>\n\n4.<|im_end|>"} << "";
    QTest::newRow("smollm2") << "smollm2-instruct" << "" << "<|im_end|>" << both("<|im_end|>") << "";
    QTest::newRow("smollm3") << "smollm3-3b" << "" << "<|im_end|>" << both("<|im_end|>") << "";
    QTest::newRow("zephyr") << "zephyr-7b-beta" << "<s>" << "</s>" << both("</s>") << "";
}

void TestData::real_templates() {
    QFETCH(QString, file);
    QFETCH(QString, bos);
    QFETCH(QString, eos);
    QFETCH(QStringList, runs);
    QFETCH(QString, error);
    static const std::vector<std::string> specials = {
        "<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<s>", "</s>", "[INST]",
        "[/INST]", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>", "<|endoftext|>", "<｜begin▁of▁sentence｜>",
        "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>", "<|python_tag|>"};
    const Tokenizer tok = with_specials(specials, bos.toUtf8().constData(), eos.toUtf8().constData());
    const std::string source = test::read_bytes(test::fixture_dir() / "chat_templates" / (file.toStdString() + ".jinja"));
    QVERIFY(!source.empty());
    ChatFormat format(TemplateKind::ModelTemplate, tok, source);
    ChatRenderOptions options;
    options.now = fixed_now();
    format.set_render_options(options);
    const Conversation c = chat({{Role::User, "Hi there"}, {Role::Assistant, "Hello!"}, {Role::User, "What is 2+2?"},
                                 {Role::Assistant, "4."}});
    if (!error.isEmpty()) {
        QLS_VERIFY_THROWS_WITH(format.tokenize(c, false), DataError, qPrintable(error));
        return;
    }
    const TokenizedExample ex = format.tokenize(c, false);
    // Independently: the whole conversation rendered once and tokenized once.
    ordered_json ctx;
    ctx["messages"] = ordered_json::array();
    for (const Message& m : c.messages) ctx["messages"].push_back({{"role", role_name(m.role)}, {"content", m.content}});
    if (!bos.isEmpty()) ctx["bos_token"] = bos.toStdString();
    ctx["eos_token"] = eos.toStdString();
    const std::string text = ChatTemplate(source).render(ctx, options);
    std::vector<int> want = tok.encode(text, false);
    if (!bos.isEmpty() && (want.empty() || want[0] != *tok.bos_id())) want.insert(want.begin(), *tok.bos_id());
    QCOMPARE(as_ints(ex.ids), want);
    const std::vector<std::string> got = trained_runs(tok, ex);
    QCOMPARE(got.size(), std::size_t(runs.size()));
    for (std::size_t i = 0; i < got.size(); ++i)
        QCOMPARE(QString::fromStdString(squash(got[i])), QString::fromStdString(squash(runs[int(i)].toStdString())));
}

void TestData::truncation_counts() {
    test::ScratchDir dir;
    std::string long_answer;
    for (int i = 0; i < 60; ++i) long_answer += "yo ho ";
    const auto path = write(dir, "t.jsonl",
                            "{\"prompt\": \"short\", \"completion\": \"fine\"}\n"
                            "{\"prompt\": \"long\", \"completion\": \"" + long_answer + "\"}\n");
    DatasetOptions o;
    o.path = path;
    o.chat_template = TemplateKind::ChatML;
    o.valid_fraction = 0.0;
    o.max_seq_len = 32;
    const PreparedDataset d = prepare_dataset(o, demo_tok());
    QCOMPARE(d.train.size(), std::size_t{2});
    QVERIFY(!d.train[0].truncated);
    QVERIFY(d.train[1].truncated);
    QCOMPARE(d.train[1].ids.size(), std::size_t{32});
    QVERIFY(d.train[1].full_length > 100);
    QCOMPARE(d.stats.train.truncated, std::size_t{1});
    QCOMPARE(d.stats.train.max_length, std::size_t{32});
    QCOMPARE(d.stats.train.tokens, d.train[0].ids.size() + 32);
    QCOMPARE(d.stats.train.trained_tokens, d.train[0].trained_tokens() + d.train[1].trained_tokens());
    std::size_t binned = 0;
    for (std::size_t n : d.stats.histogram.counts) binned += n;
    QCOMPARE(binned, std::size_t{2});
    QCOMPARE(d.stats.histogram.counts[d.train[1].full_length / d.stats.histogram.bin_width], std::size_t{1});
    o.overlong = OverlongPolicy::Drop;
    const PreparedDataset dropped = prepare_dataset(o, demo_tok());
    QCOMPARE(dropped.train.size(), std::size_t{1});
    QCOMPARE(dropped.stats.dropped, std::size_t{1});
    QVERIFY(dropped.issues.at(0).to_string().find("t.jsonl:2: over-long: ") != std::string::npos);
}

void TestData::bad_data_skip_and_stop() {
    test::ScratchDir dir;
    std::string long_prompt;
    for (int i = 0; i < 80; ++i) long_prompt += "word ";
    const std::string good = R"({"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]})";
    const auto path = write(dir, "bad.jsonl",
        good + "\n" +
        "{\"messages\": [\n" +
        R"({"messages":[{"role":"user","content":"q"}]})" "\n" +
        R"({"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"  "}]})" "\n" +
        R"({"msgs":[]})" "\n" +
        "{\"messages\":[{\"role\":\"user\",\"content\":\"caf\xE9\"},{\"role\":\"assistant\",\"content\":\"a\"}]}\n" +
        R"({"messages":[{"role":"user","content":")" + long_prompt + R"("},{"role":"assistant","content":"a"}]})" "\n" +
        good + "\n");
    DatasetOptions o;
    o.path = path;
    o.form = DataForm::Chat;
    o.chat_template = TemplateKind::ChatML;
    o.valid_fraction = 0.0;
    o.max_seq_len = 40;
    const PreparedDataset d = prepare_dataset(o, demo_tok());
    QCOMPARE(d.train.size(), std::size_t{2});
    QCOMPARE(d.train[1].line, std::size_t{8});
    const std::vector<std::pair<std::size_t, const char*>> want = {
        {2, "malformed JSON"}, {3, "no assistant turn"}, {4, "empty response"}, {5, "missing field 'messages'"},
        {6, "not valid UTF-8"}, {7, "over-long"}};
    QCOMPARE(d.issues.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        const std::string msg = d.issues[i].to_string();
        QVERIFY2(msg.starts_with(path.string() + ":" + std::to_string(want[i].first) + ": "), msg.c_str());
        QVERIFY2(msg.find(want[i].second) != std::string::npos, msg.c_str());
    }
    QCOMPARE(d.stats.dropped, std::size_t{6});
    // Every count reconciles: records read split into examples and rejected ones, and the
    // lines that gave no record at all are the rest of the issues listed.
    QCOMPARE(d.stats.unreadable, std::size_t{2});  // malformed JSON, invalid UTF-8
    QCOMPARE(d.stats.rejected, std::size_t{4});
    QCOMPARE(d.stats.records, d.stats.train.examples + d.stats.valid.examples + d.stats.rejected);
    QCOMPARE(d.stats.dropped, d.stats.rejected + d.stats.unreadable);
    QCOMPARE(d.issues.size(), d.stats.dropped);
    o.bad_policy = BadDataPolicy::Stop;
    QLS_VERIFY_THROWS_WITH(prepare_dataset(o, demo_tok()), DataError, (path.string() + ":2: malformed JSON").c_str());
    const auto path2 = write(dir, "bad2.jsonl", good + "\n" + R"({"messages":[{"role":"user","content":"q"}]})" "\n");
    o.path = path2;
    QLS_VERIFY_THROWS_WITH(prepare_dataset(o, demo_tok()), DataError, (path2.string() + ":2: the conversation has no assistant turn").c_str());
}

void TestData::empty_dataset_refused() {
    test::ScratchDir dir;
    DatasetOptions o;
    o.chat_template = TemplateKind::ChatML;
    o.path = write(dir, "empty.jsonl", "\n\n");
    QLS_VERIFY_THROWS_WITH(prepare_dataset(o, demo_tok()), DataError, "no usable training example");
    o.path = write(dir, "allbad.jsonl", "{\"text\": \"\"}\n{\"text\": \"  \"}\n");
    QLS_VERIFY_THROWS_WITH(prepare_dataset(o, demo_tok()), DataError, "allbad.jsonl:1: empty text");
    o.path = dir.path() / "missing.jsonl";
    QVERIFY_THROWS_EXCEPTION(IoError, prepare_dataset(o, demo_tok()));
}

void TestData::split_is_seeded() {
    test::ScratchDir dir;
    std::string lines;
    for (int i = 0; i < 40; ++i) lines += "{\"text\": \"record " + std::to_string(i) + "\"}\n";
    DatasetOptions o;
    o.path = write(dir, "s.jsonl", lines);
    o.chat_template = TemplateKind::Raw;
    o.valid_fraction = 0.25;
    auto valid_lines = [&](std::uint64_t seed) {
        o.seed = seed;
        const PreparedDataset d = prepare_dataset(o, demo_tok());
        std::set<std::size_t> v, t;
        for (const auto& e : d.valid) v.insert(e.line);
        for (const auto& e : d.train) t.insert(e.line);
        return std::make_pair(v, t);
    };
    const auto a = valid_lines(1), b = valid_lines(1), c = valid_lines(2);
    QCOMPARE(a.first.size(), std::size_t{10});
    QCOMPARE(a.second.size(), std::size_t{30});
    for (std::size_t line : a.first) QVERIFY(!a.second.count(line));
    QVERIFY(a.first == b.first);
    QVERIFY(a.first != c.first);
    // A separate validation file replaces the split.
    o.valid_path = write(dir, "v.jsonl", "{\"text\": \"held out\"}\n");
    const PreparedDataset d = prepare_dataset(o, demo_tok());
    QCOMPARE(d.train.size(), std::size_t{40});
    QCOMPARE(d.valid.size(), std::size_t{1});
    QCOMPARE(d.stats.valid.examples, std::size_t{1});
}

void TestData::packing_segments_and_positions() {
    const std::vector<TokenizedExample> ex = {example({10, 11, 12}, {0, 1, 1}), example({20, 21}, {0, 1}),
                                              example({30, 31, 32, 33}, {0, 0, 1, 1})};
    SamplerOptions o;
    o.max_seq_len = 8;
    o.packing = true;
    o.pad_id = 7;
    const auto rows = make_rows(ex, 8, true);  // best fit, longest first: [C, A], [B]
    QCOMPARE(rows, (std::vector<std::vector<std::size_t>>{{2, 0}, {1}}));
    const Batch b = make_batch(ex, rows, o);
    QCOMPARE(b.batch, std::int64_t{2});
    QCOMPARE(b.seq_len, std::int64_t{7});
    const int I = kIgnoreIndex;
    QCOMPARE(b.tokens, (std::vector<std::int32_t>{30, 31, 32, 33, 10, 11, 12, 20, 21, 7, 7, 7, 7, 7}));
    QCOMPARE(b.positions, (std::vector<std::int32_t>{0, 1, 2, 3, 0, 1, 2, 0, 1, 0, 0, 0, 0, 0}));
    QCOMPARE(b.segments, (std::vector<std::int32_t>{0, 0, 0, 0, 1, 1, 1, 0, 0, -1, -1, -1, -1, -1}));
    QCOMPARE(b.targets, (std::vector<std::int32_t>{I, 32, 33, I, 11, 12, I, 21, I, I, I, I, I, I}));
    QCOMPARE(b.trained_tokens(), std::int64_t{5});
    o.pad_to_max = true;
    QCOMPARE(make_batch(ex, rows, o).seq_len, std::int64_t{8});
    // Unpacked: one example per row.
    QCOMPARE(make_rows(ex, 8, false).size(), std::size_t{3});
}

void TestData::sampler_resume_gives_same_batches() {
    std::vector<TokenizedExample> ex;
    for (int i = 0; i < 30; ++i) {
        std::vector<std::int32_t> ids(std::size_t(3 + (i * 7) % 11), 5);
        ids[0] = 100 + i;
        ex.push_back(example(ids, std::vector<std::uint8_t>(ids.size(), 1)));
    }
    for (bool packing : {false, true}) {
        SamplerOptions o;
        o.batch_size = 4;
        o.max_seq_len = 16;
        o.packing = packing;
        o.group_by_length = !packing;
        o.seed = 42;
        BatchSampler a(ex, o);
        for (int i = 0; i < 5; ++i) a.next();
        const std::string saved = a.position().to_json().dump();
        std::vector<Batch> after;
        for (int i = 0; i < 2 * int(a.batches_per_epoch()); ++i) after.push_back(a.next());  // crosses epochs
        BatchSampler b(ex, o);
        b.seek(SamplerPosition::from_json(json::parse(saved)));
        for (const Batch& want : after) {
            const Batch got = b.next();
            QCOMPARE(got.tokens, want.tokens);
            QCOMPARE(got.targets, want.targets);
            QCOMPARE(got.positions, want.positions);
            QCOMPARE(got.segments, want.segments);
        }
        QCOMPARE(b.position(), a.position());
    }
    BatchSampler s(ex, SamplerOptions{});
    SamplerPosition wrong = s.position();
    wrong.batches_per_epoch += 1;
    QLS_VERIFY_THROWS_WITH(s.seek(wrong), ConfigError, "changed since it was saved");
    QLS_VERIFY_THROWS_WITH(SamplerPosition::from_json(json{{"epoch", 1}}), ConfigError, "'cursor'");
}

void TestData::sampler_epochs_and_padding() {
    std::vector<TokenizedExample> ex;
    for (int i = 0; i < 10; ++i) ex.push_back(example({100 + i, 1, 2}, {0, 1, 1}));
    SamplerOptions o;
    o.batch_size = 3;
    o.seed = 7;
    o.pad_id = padding_id(demo_tok());
    QCOMPARE(o.pad_id, 0);  // <|endoftext|>, not EOS <|im_end|> (2)
    QCOMPARE(padding_id(ref_tok("qwen2-tiny")), 0);  // no pad token
    BatchSampler s(ex, o);
    QCOMPARE(s.batches_per_epoch(), std::size_t{4});
    std::vector<std::vector<int>> epochs(2);
    for (int e = 0; e < 2; ++e)
        for (std::size_t k = 0; k < s.batches_per_epoch(); ++k) {
            const Batch b = s.next();
            QCOMPARE(b.batch, std::int64_t(k + 1 < s.batches_per_epoch() ? 3 : 1));
            for (std::int64_t r = 0; r < b.batch; ++r) epochs[std::size_t(e)].push_back(b.tokens[std::size_t(r * b.seq_len)]);
        }
    QCOMPARE(s.position().epoch, std::uint64_t{1});
    for (auto& order : epochs) {
        std::vector<int> sorted = order;
        std::sort(sorted.begin(), sorted.end());
        QCOMPARE(sorted, (std::vector<int>{100, 101, 102, 103, 104, 105, 106, 107, 108, 109}));
    }
    QVERIFY(epochs[0] != epochs[1]);
    // Length grouping: inside each block of 50 B rows, longest first.
    std::vector<TokenizedExample> varied;
    for (int i = 0; i < 12; ++i) varied.push_back(example(std::vector<std::int32_t>(std::size_t(2 + (i * 5) % 9), 9), std::vector<std::uint8_t>(std::size_t(2 + (i * 5) % 9), 1)));
    o.group_by_length = true;
    o.batch_size = 1;
    BatchSampler g(varied, o);
    std::int64_t previous = 1 << 30;
    for (int k = 0; k < 12; ++k) {
        const Batch b = g.next();
        QVERIFY(b.seq_len <= previous);
        previous = b.seq_len;
    }
}

void TestData::eval_batches_deterministic() {
    std::vector<TokenizedExample> ex;
    for (int i = 0; i < 7; ++i) ex.push_back(example({100 + i, 1, 2, 3}, {0, 0, 1, 1}));
    SamplerOptions o;
    o.batch_size = 3;
    const std::vector<Batch> a = make_eval_batches(ex, o), b = make_eval_batches(ex, o);
    QCOMPARE(a.size(), std::size_t{3});
    std::vector<int> firsts;
    for (std::size_t k = 0; k < a.size(); ++k) {
        QCOMPARE(a[k].tokens, b[k].tokens);
        for (std::int64_t r = 0; r < a[k].batch; ++r) firsts.push_back(a[k].tokens[std::size_t(r * a[k].seq_len)]);
    }
    QCOMPARE(firsts, (std::vector<int>{100, 101, 102, 103, 104, 105, 106}));
}

void TestData::demo_dataset_prepares_cleanly() {
    const auto data = source_dir() / "resources" / "demo" / "data";
    DatasetOptions o;
    o.path = data / "pirate_fortunes_train.jsonl";
    o.valid_path = data / "pirate_fortunes_valid.jsonl";
    std::size_t last_done = 0;
    const PreparedDataset d = prepare_dataset(o, demo_tok(), {}, [&](std::size_t done, std::size_t total) {
        last_done = done;
        return total == 2102;
    });
    QCOMPARE(last_done, std::size_t{2102});
    QCOMPARE(d.issues.size(), std::size_t{0});
    QCOMPARE(d.form, DataForm::Chat);
    QCOMPARE(d.train.size(), std::size_t{1982});
    QCOMPARE(d.valid.size(), std::size_t{120});
    QCOMPARE(d.stats.train.truncated, std::size_t{0});
    for (const TokenizedExample& e : d.train) {
        QVERIFY(e.ids[0] == 0 && e.ids[1] == 1);  // one BOS, then <|im_start|>
        QVERIFY(e.trained.back() == 0 && e.ids[e.ids.size() - 2] == 2 && e.trained[e.ids.size() - 2] == 1);
    }
    QVERIFY(d.stats.train.trained_tokens > 20 * d.train.size());
    QVERIFY(d.stats.train.trained_tokens < d.stats.train.tokens);
    QLS_VERIFY_THROWS_WITH(prepare_dataset(o, demo_tok(), {}, [](std::size_t, std::size_t) { return false; }), Cancelled,
                           "cancelled");
}

// llama.cpp's llama-perplexity: whole chunks only, BOS over each chunk's first token, positions
// ctx/2 .. ctx-2 scored.
void TestData::perplexity_chunks_protocol() {
    std::vector<int> tokens(27);
    for (int i = 0; i < 27; ++i) tokens[static_cast<std::size_t>(i)] = 100 + i;
    const std::vector<Batch> batches = perplexity_chunks(tokens, 8, 7, 2);
    QCOMPARE(batches.size(), std::size_t(2));  // 3 chunks of 8, the last 3 tokens dropped
    QCOMPARE(batches[0].batch, std::int64_t(2));
    QCOMPARE(batches[1].batch, std::int64_t(1));
    const std::vector<std::int32_t> first_tokens{7, 101, 102, 103, 104, 105, 106, 107};
    const std::vector<std::int32_t> first_targets{kIgnoreIndex, kIgnoreIndex, kIgnoreIndex, kIgnoreIndex,
                                                  105,          106,          107,          kIgnoreIndex};
    QCOMPARE(std::vector<std::int32_t>(batches[0].tokens.begin(), batches[0].tokens.begin() + 8), first_tokens);
    QCOMPARE(std::vector<std::int32_t>(batches[0].targets.begin(), batches[0].targets.begin() + 8), first_targets);
    QCOMPARE(batches[1].tokens[0], 7);
    QCOMPARE(batches[1].tokens[1], 117);
    QCOMPARE(batches[1].targets[4], 121);
    std::int64_t scored = 0;
    for (const Batch& b : batches) scored += b.trained_tokens();
    QCOMPARE(scored, std::int64_t(3 * (8 - 4 - 1)));
    // Without BOS the chunk keeps its own first token.
    QCOMPARE(perplexity_chunks(tokens, 8, std::nullopt)[1].tokens[0], 108);
    QLS_VERIFY_THROWS_WITH(perplexity_chunks(std::span(tokens).first(15), 8, 7), DataError, "needs at least 16");
    QLS_VERIFY_THROWS_WITH(perplexity_chunks(tokens, 2, 7), ConfigError, "below 4");
}

QTEST_GUILESS_MAIN(TestData)
#include "test_data.moc"
