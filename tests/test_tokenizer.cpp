// Tokenizer tests against HF tokenizers' outputs (shared/fixtures/ref/tokenizers/*/expected.json
// and ref/models/*/chat.json): ids, ids with the post-processor, decode, on one and many threads;
// stream decoding; tokenizer_config.json; GGUF metadata built the way llama.cpp's converter
// writes it; and the errors for bad or unsupported input.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <thread>

#include "core/tokenizer/chat_file.h"
#include "core/tokenizer/gguf_tokenizer.h"
#include "core/tokenizer/normalizer.h"
#include "core/tokenizer/regex.h"
#include "core/tokenizer/stream_decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/utf8.h"
#include "core/util/error.h"
#include "tests/test_support.h"

using nlohmann::json;
using qls::test::ref_dir;

namespace {

const char* const kNames[] = {"llama3-bpe", "gpt2-bpe", "sp-bpe"};

json read_json(const std::filesystem::path& p) { return json::parse(qls::read_text_file(p)); }

std::filesystem::path tok_dir(const char* name) { return ref_dir() / "tokenizers" / name; }

qls::Tokenizer load(const char* name) { return qls::load_tokenizer(tok_dir(name) / "tokenizer.json"); }

// By value: a range-for over read_json(...)["cases"] would outlive the parsed document.
json cases_of(const char* name) { return read_json(tok_dir(name) / "expected.json")["cases"]; }

std::vector<int> ints(const json& j) { return j.get<std::vector<int>>(); }

QString show(const std::vector<int>& v) { return QString::fromStdString(qls::format_ids(v)); }

void write_file(const std::filesystem::path& p, std::string_view text) {
    std::ofstream(p, std::ios::binary) << text;
}

// The same tokenizer.json with one field replaced (path given as JSON pointer).
std::string patched(const char* name, const std::string& pointer, const json& value) {
    json j = read_json(tok_dir(name) / "tokenizer.json");
    j[json::json_pointer(pointer)] = value;
    return j.dump();
}

// GgufTokenizerData as llama.cpp's converter writes it from a HF tokenizer.json: tokens by id,
// added special tokens as control (3), the rest normal (1).
qls::GgufTokenizerData gguf_from_json(const char* name) {
    const json j = read_json(tok_dir(name) / "tokenizer.json");
    const json& vocab = j["model"]["vocab"];
    qls::GgufTokenizerData d;
    d.tokens.resize(vocab.size());
    d.token_types.assign(vocab.size(), 1);
    for (const auto& [tok, id] : vocab.items()) d.tokens[id.get<int>()] = tok;
    for (const auto& a : j["added_tokens"])
        if (a["special"].get<bool>()) d.token_types[a["id"].get<int>()] = 3;
    for (const auto& m : j["model"]["merges"]) d.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    return d;
}

}  // namespace

class TestTokenizer : public QObject {
    Q_OBJECT

private slots:
    void fixtures_data() {
        QTest::addColumn<QString>("name");
        for (const char* n : kNames) QTest::newRow(n) << QString(n);
    }
    void fixtures() {
        QFETCH(QString, name);
        const auto tok = load(name.toUtf8().constData());
        const json cases = read_json(tok_dir(name.toUtf8().constData()) / "expected.json")["cases"];
        QVERIFY(cases.size() > 20);
        for (const auto& c : cases) {
            const std::string text = c["text"];
            const auto ids = tok.encode(text, false);
            QVERIFY2(ids == ints(c["ids"]), qPrintable(QString::fromStdString(text) + "\n got " + show(ids) +
                                                       "\nwant " + show(ints(c["ids"]))));
            QCOMPARE(show(tok.encode(text, true)), show(ints(c["ids_with_special"])));
            QCOMPARE(QString::fromStdString(tok.decode(ids)), QString::fromStdString(c["decoded"]));
        }
    }

    void chat_ids_data() {
        QTest::addColumn<QString>("model");
        for (const char* m : {"llama3-tiny", "qwen2-tiny", "mistral-tiny", "llama3-tiny-bf16-sharded"})
            QTest::newRow(m) << QString(m);
    }
    void chat_ids() {
        QFETCH(QString, model);
        const auto dir = ref_dir() / "models" / model.toStdString();
        const auto tok = qls::load_tokenizer(dir);
        const json chat = read_json(dir / "chat.json");
        for (const char* gen : {"0", "1"}) {
            const std::string rendered = chat[std::string("rendered_gen") + gen];
            QCOMPARE(show(tok.encode(rendered, false)), show(ints(chat[std::string("ids_gen") + gen])));
        }
    }

    void chat_rendering_data() { chat_ids_data(); }
    void chat_rendering() {
        QFETCH(QString, model);
        const auto dir = ref_dir() / "models" / model.toStdString();
        const auto tok = qls::load_tokenizer(dir);
        const json chat = read_json(dir / "chat.json");
        qls::test::ScratchDir scratch;
        // rendered_gen0 was made from the first three messages, rendered_gen1 from all four.
        json first3 = json::array();
        for (int i = 0; i < 3; ++i) first3.push_back(chat["messages"][i]);
        write_file(scratch.path() / "three.json", first3.dump());
        QCOMPARE(QString::fromStdString(qls::render_chat_file(tok, scratch.path() / "three.json", false)),
                 QString::fromStdString(chat["rendered_gen0"]));
        QCOMPARE(QString::fromStdString(qls::render_chat_file(tok, dir / "chat.json", true)),
                 QString::fromStdString(chat["rendered_gen1"]));
    }

    void many_threads() {
        for (const char* name : kNames) {
            const auto tok = load(name);
            const json cases = read_json(tok_dir(name) / "expected.json")["cases"];
            std::atomic<int> mismatches{0};
            std::vector<std::thread> threads;
            for (int t = 0; t < 8; ++t) {
                threads.emplace_back([&, t] {
                    for (int round = 0; round < 20; ++round)
                        for (std::size_t i = 0; i < cases.size(); ++i) {
                            const auto& c = cases[(i + t * 5) % cases.size()];
                            if (tok.encode(c["text"].get<std::string>(), false) != ints(c["ids"])) ++mismatches;
                        }
                });
            }
            for (auto& th : threads) th.join();
            QCOMPARE(mismatches.load(), 0);
        }
    }

    void stream_decoding() {
        for (const char* name : kNames) {
            const auto tok = load(name);
            for (const auto& c : cases_of(name)) {
                const auto ids = ints(c["ids"]);
                qls::StreamDecoder stream(tok);
                std::string joined;
                for (int id : ids) {
                    const std::string piece = stream.push(id);
                    QVERIFY2(qls::utf8::find_invalid(piece) == std::string::npos, "a piece ends mid-character");
                    QVERIFY2(piece.find("\xEF\xBF\xBD") == std::string::npos || std::string(c["decoded"]).find("\xEF\xBF\xBD") != std::string::npos,
                             "a piece holds a replacement character");
                    joined += piece;
                }
                joined += stream.flush();
                QCOMPARE(QString::fromStdString(joined), QString::fromStdString(c["decoded"]));
            }
        }
    }

    void split_behaviors() {
        // tokenizers' own examples (tokenizer/normalizer.rs tests) for "The-final--countdown".
        const std::vector<std::pair<qls::SplitBehavior, std::vector<std::string>>> want = {
            {qls::SplitBehavior::Removed, {"The", "final", "countdown"}},
            {qls::SplitBehavior::Isolated, {"The", "-", "final", "-", "-", "countdown"}},
            {qls::SplitBehavior::MergedWithPrevious, {"The-", "final-", "-", "countdown"}},
            {qls::SplitBehavior::MergedWithNext, {"The", "-final", "-", "-countdown"}},
            {qls::SplitBehavior::Contiguous, {"The", "-", "final", "--", "countdown"}},
        };
        for (const auto& [behavior, expected] : want) {
            qls::PreTokenizer pre;
            pre.add(qls::PreTokenizer::Split{std::make_shared<const qls::Regex>(qls::Regex::literal("-", "test")), behavior, false});
            std::vector<qls::Piece> pieces{{"The-final--countdown", true}};
            pre.apply(pieces);
            std::vector<std::string> got;
            for (const auto& p : pieces) got.push_back(p.text);
            QCOMPARE(got, expected);
        }
    }

    void onig_regex_semantics() {
        // Oniguruma's \s is White_Space: U+180E is not a space, so "!\u180E" stays one piece.
        const qls::Regex gpt2(qls::kGpt2Pattern, "test");
        std::vector<qls::Span> m;
        gpt2.find_all("!\u180E", m);
        QCOMPARE(m.size(), std::size_t(1));
        // (?i:...) folds case; \s+(?!\S) leaves the last space for the next word.
        const qls::Regex llama3(qls::kLlama3Pattern, "test");
        m.clear();
        llama3.find_all("HE'S  x", m);
        const std::vector<qls::Span> want{{0, 2}, {2, 4}, {4, 5}, {5, 7}};
        QCOMPARE(m, want);
        // Empty matches follow onig's FindMatches: one per position, none right after a match.
        const qls::Regex empty("", "test");
        m.clear();
        empty.find_all("ab", m);
        QCOMPARE(m.size(), std::size_t(3));
        QVERIFY_THROWS_EXCEPTION(qls::FormatError, qls::Regex(R"(\w+)", "t"));
        QVERIFY_THROWS_EXCEPTION(qls::FormatError, qls::Regex(R"((?m:.))", "t"));
    }

    void tokenizer_config() {
        const auto tok = qls::load_tokenizer(ref_dir() / "models" / "llama3-tiny");
        QCOMPARE(tok.bos_id(), std::optional<int>(0));
        QCOMPARE(tok.eos_id(), std::optional<int>(4));
        QCOMPARE(tok.config().model_max_length, std::optional<std::int64_t>(2048));
        QCOMPARE(tok.config().add_bos_token, std::optional<bool>(true));
        QVERIFY(tok.chat_template().find("start_header_id") != std::string::npos);
        QVERIFY(tok.is_special(4));
        QVERIFY(!tok.is_special(44));
        QCOMPARE(tok.vocab_size(), 1024);
        QVERIFY(tok.summary().find("byte-level BPE, vocab 1024") == 0);
        const auto qwen = qls::load_tokenizer(ref_dir() / "models" / "qwen2-tiny");
        QVERIFY(!qwen.bos_id());
        QCOMPARE(qwen.eos_id(), std::optional<int>(2));

        qls::test::ScratchDir dir;
        std::filesystem::copy_file(tok_dir("sp-bpe") / "tokenizer.json", dir.path() / "tokenizer.json");
        write_file(dir.path() / "tokenizer_config.json",
                   R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "unk_token": null,
                       "model_max_length": 1000000000000000019884624838656,
                       "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
        auto sp = qls::load_tokenizer(dir.path());
        QCOMPARE(sp.bos_id(), std::optional<int>(1));
        QCOMPARE(sp.eos_id(), std::optional<int>(2));
        QVERIFY(!sp.config().model_max_length);
        QCOMPARE(QString::fromStdString(sp.chat_template()), QString("D"));
        QVERIFY(sp.summary().find("SentencePiece BPE") == 0);
        write_file(dir.path() / "chat_template.jinja", "J");
        QCOMPARE(QString::fromStdString(qls::load_tokenizer(dir.path()).chat_template()), QString("J"));
        write_file(dir.path() / "tokenizer_config.json", R"({"eos_token": "<nope>"})");
        QLS_VERIFY_THROWS_WITH(qls::load_tokenizer(dir.path()), qls::FormatError, "eos_token '<nope>'");
    }

    void gguf_byte_level_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("pre");
        QTest::newRow("llama3") << "llama3-bpe" << "llama-bpe";
        QTest::newRow("gpt2") << "gpt2-bpe" << "gpt2";
    }
    void gguf_byte_level() {
        QFETCH(QString, name);
        QFETCH(QString, pre);
        auto d = gguf_from_json(name.toUtf8().constData());
        d.model = "gpt2";
        d.pre = pre.toStdString();
        const auto tok = qls::tokenizer_from_gguf(d);
        for (const auto& c : cases_of(name.toUtf8().constData())) {
            const auto ids = tok.encode(c["text"].get<std::string>(), false);
            QCOMPARE(show(ids), show(ints(c["ids"])));
            QCOMPARE(QString::fromStdString(tok.decode(ids)), QString::fromStdString(c["decoded"]));
        }
        d.pre = "falcon";
        QLS_VERIFY_THROWS_WITH(qls::tokenizer_from_gguf(d), qls::FormatError, "tokenizer.ggml.pre 'falcon'");
    }

    void gguf_sentencepiece() {
        // A SentencePiece BPE model scores each piece by its merge rank (higher = merged
        // earlier); llama.cpp merges the adjacent pair whose result scores highest.
        auto d = gguf_from_json("sp-bpe");
        const json j = read_json(tok_dir("sp-bpe") / "tokenizer.json");
        d.scores.assign(d.tokens.size(), -1e6f);
        int rank = 0;
        for (const auto& m : j["model"]["merges"]) {
            const int id = j["model"]["vocab"][m[0].get<std::string>() + m[1].get<std::string>()];
            if (d.scores[id] == -1e6f) d.scores[id] = -static_cast<float>(rank);
            ++rank;
        }
        for (int b = 0; b < 256; ++b) d.token_types[3 + b] = 6;
        d.model = "llama";
        d.pre = "default";
        d.bos_id = 1;
        d.eos_id = 2;
        d.unk_id = 0;
        const auto tok = qls::tokenizer_from_gguf(d);
        for (const auto& c : cases_of("sp-bpe")) {
            const std::string text = c["text"];
            QCOMPARE(show(tok.encode(text, false)), show(ints(c["ids"])));
            QCOMPARE(show(tok.encode(text, true)), show(ints(c["ids_with_special"])));
            QCOMPARE(QString::fromStdString(tok.decode(ints(c["ids"]))), QString::fromStdString(c["decoded"]));
        }
        QCOMPARE(tok.bos_id(), std::optional<int>(1));
        // add_space_prefix false: no "▁" is prepended, so " hello world" gives the pieces the
        // default gives for "hello world", and decode keeps the text's own leading space.
        d.add_space_prefix = false;
        const auto bare = qls::tokenizer_from_gguf(d);
        QCOMPARE(show(bare.encode(" hello world", false)), show(tok.encode("hello world", false)));
        QVERIFY(show(bare.encode("hello world", false)) != show(tok.encode("hello world", false)));
        QCOMPARE(bare.decode(bare.encode(" hello", false)), std::string(" hello"));
        d.add_space_prefix.reset();
        d.model = "bert";
        QLS_VERIFY_THROWS_WITH(qls::tokenizer_from_gguf(d), qls::FormatError, "tokenizer.ggml.model 'bert'");
    }

    void merges_as_strings() {
        json j = read_json(tok_dir("gpt2-bpe") / "tokenizer.json");
        json legacy = json::array({"#version: 0.2"});
        for (const auto& m : j["model"]["merges"]) legacy.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
        j["model"]["merges"] = legacy;
        const auto tok = qls::Tokenizer::from_json_string(j.dump(), "legacy.json");
        for (const auto& c : cases_of("gpt2-bpe"))
            QCOMPARE(show(tok.encode(c["text"].get<std::string>(), false)), show(ints(c["ids"])));
    }

    void bad_input() {
        using qls::FormatError;
        using qls::Tokenizer;
        QLS_VERIFY_THROWS_WITH(Tokenizer::from_json_string("{\"model\": ", "t.json"), FormatError, "t.json: not valid JSON");
        QLS_VERIFY_THROWS_WITH(Tokenizer::from_json_string(patched("gpt2-bpe", "/model/merges/0", json::array({"Ġ", "nope"})), "t.json"),
                               FormatError, "model.merges[0] ('Ġ', 'nope') names 'nope'");
        QLS_VERIFY_THROWS_WITH(Tokenizer::from_json_string(patched("gpt2-bpe", "/model/vocab/a", 5), "t.json"), FormatError,
                               "id 5 is given to both");
        QLS_VERIFY_THROWS_WITH(Tokenizer::from_json_string(patched("gpt2-bpe", "/model/dropout", 0.1), "t.json"), FormatError,
                               "t.json: model.dropout");
        QLS_VERIFY_THROWS_WITH(Tokenizer::from_json_string(patched("gpt2-bpe", "/normalizer", json{{"type", "Lowercase"}}), "t.json"),
                               FormatError, "t.json: normalizer.type: unsupported normalizer 'Lowercase'");
        QLS_VERIFY_THROWS_WITH(Tokenizer::from_json_string(patched("llama3-bpe", "/pre_tokenizer/pretokenizers/0/type", "Punctuation"), "t.json"),
                               FormatError, "pre_tokenizer.pretokenizers[0].type: unsupported pre_tokenizer 'Punctuation'");
        QLS_VERIFY_THROWS_WITH(Tokenizer::from_json_string(patched("gpt2-bpe", "/post_processor", json{{"type", "RobertaProcessing"}}), "t.json"),
                               FormatError, "unsupported post_processor 'RobertaProcessing'");
        QLS_VERIFY_THROWS_WITH(Tokenizer::from_json_string(patched("gpt2-bpe", "/model/type", "WordPiece"), "t.json"),
                               FormatError, "unsupported model 'WordPiece'");
        QLS_VERIFY_THROWS_WITH(Tokenizer::from_json_string(patched("gpt2-bpe", "/decoder/type", "CTC"), "t.json"),
                               FormatError, "unsupported decoder 'CTC'");
        const auto tok = load("gpt2-bpe");
        QLS_VERIFY_THROWS_WITH(tok.encode("ok \xC3\x28", false), qls::DataError, "not valid UTF-8 at byte offset 3");
        QLS_VERIFY_THROWS_WITH(tok.encode("\xED\xA0\x80", false), qls::DataError, "byte offset 0");  // a surrogate
        const std::vector<int> bad{1, 900};
        QLS_VERIFY_THROWS_WITH(tok.decode(bad), qls::DataError, "token id 900 at position 1");
        QLS_VERIFY_THROWS_WITH(qls::load_tokenizer("/nonexistent/tokenizer.json"), qls::IoError, "no tokenizer");
    }

    void nfc_quick_check() {
        // NFC is the identity on text that passes the quick check; other text is composed.
        const auto nfc = qls::Tokenizer::from_json_string(patched("gpt2-bpe", "/normalizer", json{{"type", "NFC"}}), "t.json");
        const auto plain = load("gpt2-bpe");
        for (const char* ok : {"caf\u00E9 \u00C5ngstr\u00F6m", "\u5929\u5730 \uD55C\uAE00", "\u0627\u064E\u0644", "\u05D0\u05B0\u05B1"})
            QCOMPARE(show(nfc.encode(ok, false)), show(plain.encode(ok, false)));
        const std::pair<const char*, const char*> composed[] = {
            {"\u212B", "\u00C5"}, {"e\u0301", "\u00E9"}, {"\u1100\u1161", "\uAC00"}, {"\u05D0\u05B1\u05B0", "\u05D0\u05B0\u05B1"}};
        for (const auto& [in, out] : composed) QCOMPARE(show(nfc.encode(in, false)), show(plain.encode(out, false)));
    }

    void unicode_forms_data() {
        // Expected strings from Python's unicodedata.normalize (Unicode 14).
        QTest::addColumn<QString>("form");
        QTest::addColumn<QByteArray>("input");
        QTest::addColumn<QByteArray>("expected");
        const char* const rows[][3] = {
            {"NFC", "e\u0301", "\u00E9"},
            {"NFC", "\u1100\u1161", "\uAC00"},                                      // jamo L V
            {"NFC", "\u1100\u1161\u11A8", "\uAC01"},                                 // jamo L V T
            {"NFC", "\u1112\u1161\u11AB\u1100\u1173\u11AF", "\uD55C\uAE00"},
            {"NFC", "\u212B", "\u00C5"},                                             // ANGSTROM SIGN
            {"NFC", "A\u030A", "\u00C5"},
            {"NFC", "\u00C5", "\u00C5"},
            {"NFC", "Cafe\u0301 nai\u0308ve, Zu\u0308rich 123!", "Caf\u00E9 na\u00EFve, Z\u00FCrich 123!"},
            {"NFC", "\u05D0\u05B1\u05B0", "\u05D0\u05B0\u05B1"},                   // canonical order
            {"NFC", "a\u0301\u0316", "\u00E1\u0316"},                               // reordered, then composed
            {"NFC", "\u0344", "\u0308\u0301"},                                       // composition exclusion
            {"NFC", "\uFB01", "\uFB01"},                                             // compatibility kept
            {"NFC", "", ""},
            {"NFD", "\u00E9", "e\u0301"},
            {"NFD", "\uAC01", "\u1100\u1161\u11A8"},
            {"NFD", "\u212B", "A\u030A"},
            {"NFD", "\u1E69", "s\u0323\u0307"},
            {"NFKC", "\uFB01", "fi"},
            {"NFKC", "\uFB01e\u0301", "fi\u00E9"},
            {"NFKC", "\u2460 x\u00B2 \uFF21", "1 x2 A"},
            {"NFKC", "\u1100\u1161", "\uAC00"},
            {"NFKD", "\uFB01", "fi"},
            {"NFKD", "\u00E9\uFB01", "e\u0301fi"},
            {"NFKD", "\u1E9B\u0323", "s\u0323\u0307"},
        };
        int i = 0;
        for (const auto& [form, in, out] : rows)
            QTest::addRow("%d %s", i++, form) << QString(form) << QByteArray(in) << QByteArray(out);
    }
    void unicode_forms() {
        QFETCH(QString, form);
        QFETCH(QByteArray, input);
        QFETCH(QByteArray, expected);
        qls::Normalizer n;
        if (form == "NFC") n.add(qls::Normalizer::Nfc{});
        else if (form == "NFD") n.add(qls::Normalizer::Nfd{});
        else if (form == "NFKC") n.add(qls::Normalizer::Nfkc{});
        else n.add(qls::Normalizer::Nfkd{});
        QCOMPARE(QByteArray::fromStdString(n.apply(input.toStdString())), expected);
        QVERIFY(n.keeps_offsets());
    }

    void unicode_form_after_other_steps() {
        // Steps run in order: the Replace makes "e\u0301" that NFC then composes.
        qls::Normalizer n;
        n.add(qls::Normalizer::Replace{std::make_shared<const qls::Regex>(qls::Regex::literal("E", "t")), "e\u0301"});
        n.add(qls::Normalizer::Nfc{});
        QCOMPARE(QByteArray::fromStdString(n.apply("cafE E")), QByteArray("caf\u00E9 \u00E9"));
        QVERIFY(!n.keeps_offsets());
    }

    void nfc_qwen2() {
        // The Qwen2 pipeline (model folder with config.json model_type qwen2) normalizes to NFC, so
        // decomposed text gets the ids of its composed form; without NFC the ids differ.
        const auto dir = ref_dir() / "models" / "qwen2-tiny";
        const auto qwen = qls::load_tokenizer(dir);
        const auto raw = qls::load_tokenizer(dir / "tokenizer.json");
        const std::pair<const char*, const char*> cases[] = {
            {"Cafe\u0301 nai\u0308ve", "Caf\u00E9 na\u00EFve"},
            {"\u1112\u1161\u11AB\u1100\u1173\u11AF \u212Bngstro\u0308m", "\uD55C\uAE00 \u00C5ngstr\u00F6m"},
            {"x <|im_start|>e\u0301<|im_end|> y\u0301", "x <|im_start|>\u00E9<|im_end|> \u00FD"},
        };
        for (const auto& [decomposed, composed] : cases) {
            const auto want = qwen.encode(composed, false);
            QCOMPARE(show(qwen.encode(decomposed, false)), show(want));
            QVERIFY(show(raw.encode(decomposed, false)) != show(want));
        }
        QLS_VERIFY_THROWS_WITH(qwen.encode("e\u0301 \xC3\x28", false), qls::DataError, "not valid UTF-8 at byte offset 4");
    }

    void nfc_normalized_added_token() {
        // AddedVocabulary matches normalized=true tokens in normalized text, by their normalized content.
        json j = read_json(tok_dir("gpt2-bpe") / "tokenizer.json");
        j["normalizer"] = json{{"type", "NFC"}};
        j["added_tokens"].push_back({{"id", 900}, {"content", "cafe\u0301"}, {"single_word", false}, {"lstrip", false},
                                     {"rstrip", false}, {"normalized", true}, {"special", false}});
        const auto tok = Tokenizer_from(j);
        QCOMPARE(show(tok.encode("caf\u00E9", false)), show({900}));
        QCOMPARE(show(tok.encode("cafe\u0301", false)), show({900}));
    }

    void added_token_options() {
        // lstrip/rstrip/single_word follow AddedVocabulary::find_matches.
        json j = read_json(tok_dir("gpt2-bpe") / "tokenizer.json");
        j["added_tokens"].push_back({{"id", 900}, {"content", "<x>"}, {"single_word", false}, {"lstrip", true},
                                     {"rstrip", true}, {"normalized", false}, {"special", false}});
        j["added_tokens"].push_back({{"id", 901}, {"content", "cat"}, {"single_word", true}, {"lstrip", false},
                                     {"rstrip", false}, {"normalized", false}, {"special", false}});
        const auto tok = Tokenizer_from(j);
        const auto base = load("gpt2-bpe");
        auto ids = tok.encode("a  <x>  b", false);
        std::vector<int> want = base.encode("a", false);
        want.push_back(900);
        for (int id : base.encode("b", false)) want.push_back(id);
        QCOMPARE(show(ids), show(want));
        QCOMPARE(show(tok.encode("concatenate", false)), show(base.encode("concatenate", false)));
        want = base.encode("a ", false);
        want.push_back(901);
        QCOMPARE(show(tok.encode("a cat", false)), show(want));
        QCOMPARE(tok.vocab_size(), 902);
        QCOMPARE(QString::fromStdString(tok.decode(tok.encode("x<x>y", false), true)), QString("x<x>y"));  // not special
        QCOMPARE(QString::fromStdString(tok.decode(tok.encode("x<|im_end|>y", false), true)), QString("xy"));
    }

private:
    static qls::Tokenizer Tokenizer_from(const json& j) { return qls::Tokenizer::from_json_string(j.dump(), "test.json"); }
};

QTEST_GUILESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
