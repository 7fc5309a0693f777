// What the real tools see of our exports (issue 18, "interop details"): Ollama's prompt under our
// Modelfile equals the model's Jinja chat template (system prompt once, the template's default
// system prompt as SYSTEM), one Modelfile per GGUF, the base model an adapter records for peft,
// the model card's losses from the run, and llama-perplexity's BOS rule. Every comparison here is
// exact: prompts and IDs are strings, losses are copied, not computed.
#include <QtTest>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/data/perplexity_chunks.h"
#include "core/export/base_model_id.h"
#include "core/export/export_destination.h"
#include "core/export/gguf_tokenizer_export.h"
#include "core/export/gguf_writer.h"
#include "core/export/ollama_modelfile.h"
#include "core/export/peft_adapter.h"
#include "core/export/run_model_card.h"
#include "core/template/chat_template.h"
#include "core/tokenizer/gguf_tokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "ollama_template.h"
#include "test_support.h"

using namespace qls;
namespace fs = std::filesystem;
using test::OllamaMessage;

namespace {

fs::path ref_model(const char* name) { return test::ref_dir() / "models" / name; }

GgufTokenizerData tokenizer_of(const fs::path& folder) {
    const auto config = nlohmann::json::parse(test::read_bytes(folder / "config.json"));
    return gguf_tokenizer_from_hf(folder, config.at("vocab_size").get<std::int64_t>());
}

// The text between `key """` and the next `"""` in a Modelfile; "" when the key is absent.
std::string quoted(const std::string& modelfile, const std::string& key) {
    const std::string open = "\n" + key + " \"\"\"";
    const auto at = modelfile.find(open);
    if (at == std::string::npos) return {};
    const auto begin = at + open.size();
    return modelfile.substr(begin, modelfile.find("\"\"\"", begin) - begin);
}

// transformers' prompt: the chat template with add_generation_prompt, less the BOS text that
// llama.cpp and Ollama add as a token (when the tokenizer adds one) instead of as text.
std::string jinja_prompt(const GgufTokenizerData& data, const std::vector<OllamaMessage>& chat) {
    nlohmann::json messages = nlohmann::json::array();
    for (const OllamaMessage& m : chat) messages.push_back({{"role", m.role}, {"content", m.content}});
    const auto token = [&](const std::optional<std::int64_t>& id) { return id ? data.tokens[std::size_t(*id)] : ""; };
    const nlohmann::json context{{"messages", messages}, {"add_generation_prompt", true},
                                 {"bos_token", token(data.bos_id)}, {"eos_token", token(data.eos_id)}};
    std::string text = ChatTemplate(data.chat_template).render(context);
    const std::string bos = token(data.bos_id);
    if (perplexity_bos(tokenizer_from_gguf(data)) && !bos.empty() && text.starts_with(bos)) text.erase(0, bos.size());
    return text;
}

const std::vector<std::pair<const char*, std::vector<OllamaMessage>>>& chats() {
    static const std::vector<std::pair<const char*, std::vector<OllamaMessage>>> c = {
        {"one turn", {{"user", "Hello!"}}},
        {"multi-turn", {{"user", "Hello!"}, {"assistant", "Hi, how can I help?"}, {"user", "What is 2+2?"}}},
        {"system prompt",
         {{"system", "You answer in French."}, {"user", "Hello!"}, {"assistant", "Bonjour !"}, {"user", "2+2?"}}},
    };
    return c;
}

// test::write_bytes, creating the folder first.
void put(const fs::path& path, std::string_view bytes) {
    fs::create_directories(path.parent_path());
    test::write_bytes(path, bytes);
}

void write_gguf_metadata(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& strings) {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    for (const auto& [key, value] : strings) w.set_string(key, value);
    w.write(path);
}

}  // namespace

class TestInterop : public QObject {
    Q_OBJECT
private slots:
    void ollamaKeepsSystemInMessages();
    void ollamaPromptEqualsChatTemplate_data();
    void ollamaPromptEqualsChatTemplate();
    void defaultSystemPromptBecomesSystem();
    void modelfileNamedAfterGguf();
    void baseModelIdFromFolder();
    void baseModelIdFromGguf();
    void adapterRecordsBaseModelId();
    void modelCardReadsRunMetrics();
    void perplexityBosOnlyWhenTokenizerAddsIt();
};

// The renderer follows Ollama where the old Modelfile went wrong: a system message is both in
// .System and in .Messages, so a template printing both prints it twice; SYSTEM comes first only
// when the chat has no system message; same-role neighbours merge.
void TestInterop::ollamaKeepsSystemInMessages() {
    const std::string both = "{{- if .System }}[{{ .System }}]{{ end }}{{- range .Messages }} {{ .Role }}:{{ .Content }}{{ end }}";
    QCOMPARE(test::render_ollama_chat(both, "", {{"system", "S"}, {"user", "a"}, {"user", "b"}}),
             std::string("[S] system:S user:a\n\nb"));
    QCOMPARE(test::render_ollama_chat(both, "D", {{"user", "a"}}), std::string("[D] system:D user:a"));
    QCOMPARE(test::render_ollama_chat(both, "D", {{"system", "S"}, {"user", "a"}}), std::string("[S] system:S user:a"));
    const std::string branches = "{{- range .Messages }}{{ if eq .Role \"user\" }}U{{ else if eq .Role \"system\" }}S"
                                 "{{ else }}A{{ end }}{{ end }}  {{- if not .System }}!{{ end }}";
    QCOMPARE(test::render_ollama_chat(branches, "", {{"system", "s"}, {"user", "u"}, {"assistant", "a"}}),
             std::string("SUA"));
    QCOMPARE(test::render_ollama_chat(branches, "", {{"user", "u"}}), std::string("U!"));
    QVERIFY_THROWS_EXCEPTION(std::runtime_error, test::render_ollama_chat("{{ .Prompt }}", "", {}));
}

void TestInterop::ollamaPromptEqualsChatTemplate_data() {
    QTest::addColumn<QString>("model");
    QTest::newRow("demo") << QString::fromStdString((test::source_dir() / "resources" / "demo" / "model").string());
    for (const char* name : {"llama3-tiny", "mistral-tiny", "qwen2-tiny"})
        QTest::newRow(name) << QString::fromStdString(ref_model(name).string());
}

// Ollama renders our TEMPLATE (and SYSTEM) exactly as transformers renders the model's template,
// system messages included once (Mistral's [INST] templates drop them, and so does ours).
void TestInterop::ollamaPromptEqualsChatTemplate() {
    QFETCH(QString, model);
    const GgufTokenizerData data = tokenizer_of(model.toStdString());
    QVERIFY(chat_family(data.chat_template) != ChatFamily::None);
    const std::string modelfile = ollama_modelfile("m.gguf", data);
    const std::string tmpl = quoted(modelfile, "TEMPLATE"), system = quoted(modelfile, "SYSTEM");
    for (const auto& [name, chat] : chats()) {
        const std::string ollama = test::render_ollama_chat(tmpl, system, chat), jinja = jinja_prompt(data, chat);
        QVERIFY2(ollama == jinja, qPrintable(QString("%1:\nOllama: %2\nJinja:  %3").arg(name, ollama.c_str(), jinja.c_str())));
    }
}

// A ChatML template that writes a system prompt of its own when the chat has none (as SmolLM2's
// does): the Modelfile carries it as SYSTEM, so Ollama's prompts equal the template's with and
// without a system message.
void TestInterop::defaultSystemPromptBecomesSystem() {
    GgufTokenizerData data = tokenizer_of(ref_model("qwen2-tiny"));
    data.chat_template =
        "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are Tiny, a careful assistant.<|im_end|>\n"
        "{% endif %}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    QCOMPARE(chat_template_default_system(data), std::string("You are Tiny, a careful assistant."));
    const std::string modelfile = ollama_modelfile("m.gguf", data);
    QVERIFY2(modelfile.find("\nSYSTEM \"\"\"You are Tiny, a careful assistant.\"\"\"\n") != std::string::npos,
             modelfile.c_str());
    for (const auto& [name, chat] : chats()) {
        const std::string ollama = test::render_ollama_chat(quoted(modelfile, "TEMPLATE"), quoted(modelfile, "SYSTEM"), chat);
        QVERIFY2(ollama == jinja_prompt(data, chat), name);
    }
    // A template without a default writes no SYSTEM.
    QVERIFY(ollama_modelfile("m.gguf", tokenizer_of(ref_model("qwen2-tiny"))).find("\nSYSTEM ") == std::string::npos);
}

// Two GGUF exports into one folder keep a Modelfile each, and the export destination lists it.
void TestInterop::modelfileNamedAfterGguf() {
    test::ScratchDir scratch;
    const GgufTokenizerData data = tokenizer_of(ref_model("qwen2-tiny"));
    QCOMPARE(ollama_modelfile_path(scratch.path() / "a-f16.gguf"), scratch.path() / "a-f16.Modelfile");
    write_ollama_modelfile(scratch.path() / "a-f16.gguf", data);
    write_ollama_modelfile(scratch.path() / "b-q8_0.gguf", data);
    const std::string a = test::read_bytes(scratch.path() / "a-f16.Modelfile");
    const std::string b = test::read_bytes(scratch.path() / "b-q8_0.Modelfile");
    QVERIFY(a.find("\nFROM ./a-f16.gguf\n") != std::string::npos);
    QVERIFY(a.find("-f a-f16.Modelfile\n") != std::string::npos);
    QVERIFY(b.find("\nFROM ./b-q8_0.gguf\n") != std::string::npos);
    QVERIFY(!fs::exists(scratch.path() / "Modelfile"));
    ExportTarget t;
    t.kind = ExportKind::Gguf;
    t.path = scratch.path() / "b-q8_0.gguf";
    t.modelfile = true;
    QCOMPARE(exported_files(t), (std::vector<fs::path>{t.path, scratch.path() / "b-q8_0.Modelfile"}));
}

void TestInterop::baseModelIdFromFolder() {
    test::ScratchDir scratch;
    // The Hugging Face cache: hub/models--ORG--NAME/snapshots/REV/.
    const fs::path cached = scratch.path() / "hub" / "models--HuggingFaceTB--SmolLM2-135M" / "snapshots" / "0123abc";
    put(cached / "config.json", R"({"_name_or_path": "/somewhere/else"})");
    QCOMPARE(base_model_id(cached), std::string("HuggingFaceTB/SmolLM2-135M"));
    QCOMPARE(base_model_id(cached / ""), std::string("HuggingFaceTB/SmolLM2-135M"));
    // config.json's _name_or_path, when it is a Hub ID.
    const fs::path named = scratch.path() / "named" / "model";
    put(named / "config.json", R"({"_name_or_path": "meta-llama/Llama-3.2-1B"})");
    QCOMPARE(base_model_id(named), std::string("meta-llama/Llama-3.2-1B"));
    // Else the absolute path (peft accepts it), never the folder's last name alone.
    const fs::path local = scratch.path() / "local" / "model";
    put(local / "config.json", R"({"_name_or_path": "/home/me/model"})");
    QCOMPARE(base_model_id(local), fs::weakly_canonical(local).string());
    QCOMPARE(base_model_id(local / ""), fs::weakly_canonical(local).string());

    QVERIFY(is_hub_id("Qwen/Qwen2.5-0.5B-Instruct"));
    for (const char* not_id : {"model", "/abs/model", "a/b/c", "a--b/c", "org/..", "./model", "org/"})
        QVERIFY2(!is_hub_id(not_id), not_id);
    QCOMPARE(hub_id_from_url("https://huggingface.co/HuggingFaceTB/SmolLM2-135M/tree/main"),
             std::string("HuggingFaceTB/SmolLM2-135M"));
    QCOMPARE(hub_id_from_url("https://huggingface.co/datasets/org/set"), std::string());
    QCOMPARE(hub_id_from_url("https://github.com/org/repo"), std::string());
}

// A GGUF never records its general.name; its source repo when the metadata names one
// (base_model.N names the model it was finetuned from: not used), else its path.
void TestInterop::baseModelIdFromGguf() {
    test::ScratchDir scratch;
    const std::pair<std::string, std::string> name{"general.name", "Smollm2 135M 8k Lc100K Mix1 Ep2"};
    const std::pair<std::string, std::string> parent{"general.base_model.0.repo_url",
                                                     "https://huggingface.co/HuggingFaceTB/SmolLM2-135M"};
    write_gguf_metadata(scratch.path() / "url.gguf",
                        {name, parent, {"general.source.repo_url", "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"}});
    QCOMPARE(base_model_id(scratch.path() / "url.gguf"), std::string("HuggingFaceTB/SmolLM2-135M-Instruct"));
    write_gguf_metadata(scratch.path() / "old.gguf", {name, {"general.source.huggingface.repository", "org/model"}});
    QCOMPARE(base_model_id(scratch.path() / "old.gguf"), std::string("org/model"));
    write_gguf_metadata(scratch.path() / "bare.gguf", {name, parent});
    QCOMPARE(base_model_id(scratch.path() / "bare.gguf"), fs::weakly_canonical(scratch.path() / "bare.gguf").string());
    // A cached GGUF is a symlink into blobs/: the snapshot path still names the repo.
    const fs::path snapshot = scratch.path() / "models--org--model-GGUF" / "snapshots" / "rev";
    fs::create_directories(snapshot);
    fs::create_symlink(scratch.path() / "bare.gguf", snapshot / "model.gguf");
    QCOMPARE(base_model_id(snapshot / "model.gguf"), std::string("org/model-GGUF"));
}

void TestInterop::adapterRecordsBaseModelId() {
    LoraAdapter adapter;
    adapter.config.rank = 2;
    adapter.config.alpha = 4;
    adapter.config.targets = {LoraTarget::Q};
    adapter.modules["model.layers.0.self_attn.q_proj"] = {3, 3, 2, std::vector<float>(6, 0.5f), std::vector<float>(6, 0.f)};
    for (const std::string base : {"HuggingFaceTB/SmolLM2-135M", "/data/models/smollm2"}) {
        adapter.base_model = base;
        const auto config = nlohmann::json::parse(peft_adapter_config_json(adapter));
        QCOMPARE(config["base_model_name_or_path"].get<std::string>(), base);
        const std::string card = peft_model_card(adapter, {});
        const bool hub = base.front() != '/';
        QCOMPARE(card.find("base_model: " + base + "\n") != std::string::npos, hub);
        QCOMPARE(card.find("works only where that path exists") != std::string::npos, !hub);
    }
}

// The run's figures reach an export's card: the last training loss and the best validation
// loss up to the adapter's step, as the trainer writes them into the run's own README.
void TestInterop::modelCardReadsRunMetrics() {
    test::ScratchDir scratch;
    const fs::path run = scratch.path() / "run";
    put(run / "run.json", "{}");
    put(run / "metrics.jsonl",
                      R"({"type":"step","step":1,"loss":2.5})" "\n"
                      R"({"type":"step","step":2,"loss":2.25})" "\n"
                      R"({"type":"eval","step":2,"loss":2.125})" "\n"
                      R"({"type":"memory","step":2,"bytes":{}})" "\n"
                      R"({"type":"step","step":3,"loss":2.0})" "\n"
                      R"({"type":"eval","step":3,"loss":2.1875})" "\n"
                      R"({"type":"step","step":4,"loss":1.75})" "\n"
                      R"({"type":"step","st)");  // cut short by a crash
    fs::create_directories(run / "checkpoints" / "step-2" / "adapter");
    QVERIFY(!run_adapter_of(scratch.path()));
    const std::optional<RunAdapter> final_adapter = run_adapter_of(run / "adapter");
    QVERIFY(final_adapter);
    QCOMPARE(final_adapter->run_dir, run);
    QVERIFY(!final_adapter->step);
    const std::optional<RunAdapter> checkpoint = run_adapter_of(run / "checkpoints" / "step-2" / "adapter");
    QVERIFY(checkpoint);
    QCOMPARE(checkpoint->run_dir, run);
    QCOMPARE(checkpoint->step, std::optional<std::int64_t>(2));
    QCOMPARE(run_adapter_of(run / "checkpoints" / "step-2")->step, std::optional<std::int64_t>(2));

    TrainConfig config;
    config.data.path = "data/chat.jsonl";
    const ModelCard final_card = run_model_card(config, *final_adapter);
    QCOMPARE(final_card.steps, std::int64_t(4));
    QCOMPARE(final_card.train_loss, std::optional<double>(1.75));
    QCOMPARE(final_card.valid_loss, std::optional<double>(2.125));
    QCOMPARE(final_card.dataset, std::string("chat.jsonl"));
    const ModelCard at_2 = run_model_card(config, *checkpoint);
    QCOMPARE(at_2.steps, std::int64_t(2));
    QCOMPARE(at_2.train_loss, std::optional<double>(2.25));
    QCOMPARE(at_2.valid_loss, std::optional<double>(2.125));
    LoraAdapter adapter;
    QVERIFY(peft_model_card(adapter, final_card).find("train 1.7500, validation 2.1250") != std::string::npos);

    put(run / "metrics.jsonl", "{\"type\":\"step\",\"step\":1}\n[1]\n{}\n");
    QLS_VERIFY_THROWS_WITH(run_model_card(config, *final_adapter), FormatError, "metrics.jsonl");
}

// llama-perplexity (tools/perplexity/perplexity.cpp): `if (add_bos && j == 0)` BOS replaces each
// chunk's first token, and only then.
void TestInterop::perplexityBosOnlyWhenTokenizerAddsIt() {
    const Tokenizer llama3 = load_tokenizer(ref_model("llama3-tiny"));  // adds <|begin_of_text|>
    QCOMPARE(perplexity_bos(llama3), llama3.bos_id());
    GgufTokenizerData data = tokenizer_of(ref_model("llama3-tiny"));
    data.add_bos = false;  // tokenizer.ggml.add_bos_token false: BOS known but not added
    const Tokenizer no_bos = tokenizer_from_gguf(data);
    QVERIFY(no_bos.bos_id());
    QCOMPARE(perplexity_bos(no_bos), std::optional<int>());

    std::vector<int> tokens(20);
    for (int i = 0; i < 20; ++i) tokens[std::size_t(i)] = 100 + i;
    // ctx 8: two chunks (tokens 0-7, 8-15; the tail dropped), positions 4..6 scored.
    const std::vector<Batch> with = perplexity_chunks(tokens, 8, 7, 2), without = perplexity_chunks(tokens, 8, std::nullopt, 2);
    QCOMPARE(with.size(), std::size_t(1));
    QCOMPARE(with[0].tokens, (std::vector<int>{7, 101, 102, 103, 104, 105, 106, 107, 7, 109, 110, 111, 112, 113, 114, 115}));
    QCOMPARE(without[0].tokens, (std::vector<int>{100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115}));
    const int x = kIgnoreIndex;
    QCOMPARE(without[0].targets, (std::vector<int>{x, x, x, x, 105, 106, 107, x, x, x, x, x, 113, 114, 115, x}));
    QCOMPARE(with[0].targets, without[0].targets);
}

QTEST_GUILESS_MAIN(TestInterop)
#include "test_interop.moc"
