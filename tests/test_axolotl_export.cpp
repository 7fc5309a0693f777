// `qlora export RUN --axolotl DIR` (axolotl_export.h): the config read back from its YAML holds
// every setting of the run under axolotl's key; the pre-tokenized records decode to the text the
// run's template renders, with labels exactly on the trained tokens; unreadable runs are refused
// by name; and an adapter in the shape axolotl's peft saves opens in our PEFT reader.
#include <QtTest>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/data/batch.h"
#include "core/export/axolotl_config.h"
#include "core/export/axolotl_export.h"
#include "core/export/export_destination.h"
#include "core/export/peft_adapter.h"
#include "core/export/yaml_writer.h"
#include "core/io/safetensors_reader.h"
#include "core/io/safetensors_writer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/train/run_folder.h"
#include "core/util/half.h"
#include "test_support.h"

using namespace qls;
using nlohmann::json;
using nlohmann::ordered_json;
namespace fs = std::filesystem;
using qls::test::ScratchDir;

namespace {

// ---- A reader for the block-YAML subset to_block_yaml writes, independent of the writer:
// "key: scalar", "key:" then a deeper block, "- item" sequences whose mapping items continue at
// the column after "- ". Scalars are JSON (the writer's contract), full-line comments skipped.

struct Line {
    int indent;
    std::string text;
};

std::vector<Line> yaml_lines(const std::string& yaml) {
    std::vector<Line> lines;
    std::istringstream in(yaml);
    for (std::string s; std::getline(in, s);) {
        const std::size_t first = s.find_first_not_of(' ');
        if (first == std::string::npos || s[first] == '#') continue;
        lines.push_back({int(first), s.substr(first)});
    }
    return lines;
}

ordered_json parse_block(const std::vector<Line>& lines, std::size_t& i, int indent);

// "key: value" or "key:" + nested block; `text` starts at column `indent`.
void parse_entry(const std::vector<Line>& lines, std::size_t& i, int indent, const std::string& text,
                 ordered_json& object) {
    const std::size_t colon = text.find(':');
    if (colon == std::string::npos) throw std::runtime_error("YAML: no ':' in '" + text + "'");
    const std::string key = text.substr(0, colon);
    const std::string rest = text.substr(colon + 1);
    ++i;
    if (rest.empty()) {
        if (i >= lines.size() || lines[i].indent <= indent)
            throw std::runtime_error("YAML: '" + key + ":' without a nested block");
        object[key] = parse_block(lines, i, lines[i].indent);
    } else {
        object[key] = ordered_json::parse(rest.substr(1));
    }
}

ordered_json parse_block(const std::vector<Line>& lines, std::size_t& i, int indent) {
    const bool sequence = lines[i].text.starts_with("- ");
    ordered_json out = sequence ? ordered_json::array() : ordered_json::object();
    while (i < lines.size() && lines[i].indent == indent) {
        const std::string& text = lines[i].text;
        if (!sequence) {
            parse_entry(lines, i, indent, text, out);
            continue;
        }
        if (!text.starts_with("- ")) throw std::runtime_error("YAML: expected '- ' in '" + text + "'");
        const std::string item = text.substr(2);
        if (item.find(": ") == std::string::npos && !item.ends_with(":")) {
            out.push_back(ordered_json::parse(item));
            ++i;
            continue;
        }
        ordered_json object = ordered_json::object();
        parse_entry(lines, i, indent + 2, item, object);
        while (i < lines.size() && lines[i].indent == indent + 2)
            parse_entry(lines, i, indent + 2, lines[i].text, object);
        out.push_back(object);
    }
    return out;
}

ordered_json parse_yaml(const std::string& yaml) {
    const std::vector<Line> lines = yaml_lines(yaml);
    std::size_t i = 0;
    ordered_json out = parse_block(lines, i, 0);
    if (i != lines.size()) throw std::runtime_error("YAML: unparsed line '" + lines[i].text + "'");
    return out;
}

// ---- Runs and datasets.

fs::path demo_model() {
    return qls::test::source_dir() / "resources" / "demo" / "model";
}

const Tokenizer& demo_tok() {
    static const Tokenizer tok = load_tokenizer(demo_model());
    return tok;
}

// A run folder as the trainer leaves it before the first step: run.json with the config and the
// dataset's fingerprint (all the export reads).
fs::path make_run(const fs::path& dir, const TrainConfig& config) {
    fs::create_directories(dir);
    const json run = {{"config", to_json(config)}, {"dataset_fingerprint", fingerprint(config.data.path)}};
    qls::test::write_bytes(dir / "run.json", run.dump(2));
    return dir;
}

std::vector<json> read_jsonl(const fs::path& path) {
    std::vector<json> out;
    std::istringstream in(qls::test::read_bytes(path));
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
}

std::vector<int> ints(const json& array) {
    return array.get<std::vector<int>>();
}

// The decoded runs of consecutive labels that are not -100.
std::vector<std::string> labeled_runs(const json& record) {
    const std::vector<int> ids = ints(record.at("input_ids")), labels = ints(record.at("labels"));
    std::vector<std::string> runs;
    std::vector<int> run;
    for (std::size_t i = 0; i <= ids.size(); ++i) {
        if (i < ids.size() && labels[i] != kIgnoreIndex) {
            if (labels[i] != ids[i]) throw std::runtime_error("a label that is not its token's id");
            run.push_back(ids[i]);
        } else if (!run.empty()) {
            runs.push_back(demo_tok().decode(run));
            run.clear();
        }
    }
    return runs;
}

QStringList qlist(const std::vector<std::string>& v) {
    QStringList out;
    for (const auto& s : v) out << QString::fromStdString(s);
    return out;
}

// Every setting away from its default, so that a key written from the wrong field shows.
TrainConfig busy_config(const fs::path& data) {
    TrainConfig c;
    c.model = demo_model();
    c.data.path = data;
    c.base.quant = QuantType::FP4;
    c.base.double_quant = false;
    c.lora.rank = 12;
    c.lora.alpha = 24;
    c.lora.dropout = 0.1;
    c.lora.rslora = true;
    c.lora.targets = {LoraTarget::Q, LoraTarget::V, LoraTarget::Down};
    c.lora.seed = 7;
    c.seed = 7;
    c.data.max_seq_len = 96;
    c.data.packing = true;
    c.data.train_on_inputs = true;
    c.micro_batch = 3;
    c.grad_accum = 5;
    c.max_steps = 0;
    c.epochs = 2.5;
    c.optim.adamw.lr = 3e-5;
    c.optim.adamw.beta1 = 0.85;
    c.optim.adamw.beta2 = 0.98;
    c.optim.adamw.eps = 1e-6;
    c.optim.adamw.weight_decay = 0.01;
    c.optim.adamw.max_grad_norm = 0.7;
    c.optim.schedule = {LrScheduleType::Linear, 5, 0.0};
    c.compute_dtype = "bf16";
    c.checkpointing = false;
    c.eval_every = 25;
    c.save_every = 50;
    c.keep_checkpoints = 3;
    c.early_stop_patience = 4;
    return c;
}

bool mentions(const std::vector<std::string>& differences, const std::string& needle) {
    for (const auto& d : differences)
        if (d.find(needle) != std::string::npos) return true;
    return false;
}

}  // namespace

class TestAxolotlExport : public QObject {
    Q_OBJECT
private slots:
    void yaml_scalars_read_back_as_written();
    void yaml_round_trip();
    void config_holds_every_setting();
    void config_other_branches_and_differences();
    void config_warmup_as_the_run_counted_it();
    void config_early_stopping();
    void records_instruction();
    void records_chat_with_validation_file();
    void records_plain_text();
    void readme_names_commands_and_differences();
    void refuses_unreadable_runs();
    void destination_is_recognized();
    void axolotl_saved_adapter_opens();
    void axolotl_shaped_adapter_opens();
};

// PyYAML (YAML 1.1) reads a float only with a '.' and a signed exponent: "1e-05" would be a string.
void TestAxolotlExport::yaml_scalars_read_back_as_written() {
    QCOMPARE(QString::fromStdString(yaml_scalar(2e-5)), QString("2.0e-05"));
    QCOMPARE(QString::fromStdString(yaml_scalar(1e20)), QString("1.0e+20"));
    QCOMPARE(QString::fromStdString(yaml_scalar(0.05)), QString("0.05"));
    QCOMPARE(QString::fromStdString(yaml_scalar(32.0)), QString("32.0"));
    QCOMPARE(QString::fromStdString(yaml_scalar(16)), QString("16"));
    QCOMPARE(QString::fromStdString(yaml_scalar("no")), QString("\"no\""));
    QCOMPARE(QString::fromStdString(yaml_scalar(nullptr)), QString("null"));
    QCOMPARE(QString::fromStdString(yaml_scalar(ordered_json::array())), QString("[]"));
    QLS_VERIFY_THROWS_WITH(to_block_yaml({{"bad key", 1}}), InternalError, "'bad key'");
}

void TestAxolotlExport::yaml_round_trip() {
    const ordered_json v = {
        {"plain", "text"},
        {"tricky", "no: #yes\n\"quoted\"\ttab \\ é"},
        {"exp", 2e-5},
        {"neg", -3},
        {"flag", false},
        {"nothing", nullptr},
        {"empty_list", ordered_json::array()},
        {"empty_map", ordered_json::object()},
        {"nested", {{"a", 1}, {"b", {{"c", "d"}}}}},
        {"list", {"x", "y"}},
        {"records", {{{"path", "t.jsonl"}, {"type", nullptr}, {"tags", {"a"}}}, {{"path", "v.jsonl"}}}},
    };
    const std::string yaml = to_block_yaml(v);
    QCOMPARE(QString::fromStdString(parse_yaml(yaml).dump()), QString::fromStdString(v.dump()));
    QVERIFY(yaml.find("records:\n  - path: \"t.jsonl\"\n    type: null\n    tags:\n      - \"a\"\n") !=
            std::string::npos);
}

void TestAxolotlExport::config_holds_every_setting() {
    const TrainConfig c = busy_config("/data/train.jsonl");
    const AxolotlConfig a = axolotl_config(c, "org/base", {"train.jsonl", "valid.jsonl"});
    const ordered_json y = parse_yaml(to_block_yaml(a.config));
    const auto check = [&](const char* key, const json& want) {
        if (!y.contains(key)) QFAIL(qPrintable(QString("no key %1").arg(key)));
        if (json(y.at(key)) != want)
            QFAIL(qPrintable(QString("%1: %2, expected %3")
                                 .arg(key, QString::fromStdString(y.at(key).dump()),
                                      QString::fromStdString(want.dump()))));
    };
    check("base_model", "org/base");
    check("adapter", "qlora");
    check("load_in_4bit", true);
    check("bnb_config_kwargs", {{"bnb_4bit_quant_type", "fp4"}, {"bnb_4bit_use_double_quant", false}});
    check("lora_r", 12);
    check("lora_alpha", 24);
    check("lora_dropout", 0.1);
    check("lora_target_modules", {"q_proj", "v_proj", "down_proj"});
    check("peft_use_rslora", true);
    check("sequence_len", 96);
    check("sample_packing", true);
    check("flash_attention", true);
    check("eval_sample_packing", false);
    check("train_on_inputs", true);
    const json tokenized = {
        {"path", "train.jsonl"}, {"ds_type", "json"}, {"split", "train"}, {"type", nullptr}};
    check("datasets", json::array({tokenized}));
    json valid = tokenized;
    valid["path"] = "valid.jsonl";
    check("test_datasets", json::array({valid}));
    check("val_set_size", 0.0);
    check("micro_batch_size", 3);
    check("gradient_accumulation_steps", 5);
    check("num_epochs", 2.5);
    QVERIFY(!y.contains("max_steps"));
    check("optimizer", "adamw_torch");
    check("learning_rate", 3e-5);
    check("lr_scheduler", "linear");
    check("warmup_steps", 5);
    QVERIFY(!y.contains("warmup_ratio"));
    check("adam_beta1", 0.85);
    check("adam_beta2", 0.98);
    check("adam_epsilon", 1e-6);
    check("weight_decay", 0.01);
    check("max_grad_norm", 0.7);
    check("bf16", true);
    check("fp16", false);
    check("gradient_checkpointing", false);
    check("seed", 7);
    check("eval_strategy", "steps");
    check("eval_steps", 25);
    check("early_stopping_patience", 4);
    check("save_strategy", "steps");
    check("save_steps", 50);
    check("save_total_limit", 3);
    check("output_dir", "./outputs/adapter");
    // Everything this run uses is expressible: no difference.
    QCOMPARE(qlist(a.differences), QStringList{});
}

void TestAxolotlExport::config_other_branches_and_differences() {
    TrainConfig c = busy_config("/data/train.jsonl");
    c.model = "/models/base.Q4_K_M.gguf";
    c.base.quant.reset();
    c.lora.alpha = 20.5;
    c.lora.seed = 3;
    c.max_steps = 120;
    c.optim.schedule = {LrScheduleType::Constant, 10, 0.0};
    c.optim.paging.device_budget_bytes = 1 << 20;
    c.compute_dtype = "fp16";
    c.initial_loss_scale = 1024;
    c.eval_every = 0;
    c.save_every = 0;
    c.early_stop_min_delta = 0.01;
    const AxolotlConfig a = axolotl_config(c, "/models/base.Q4_K_M.gguf", {"train.jsonl", "valid.jsonl"});
    const ordered_json y = parse_yaml(to_block_yaml(a.config));
    QCOMPARE(QString::fromStdString(y.at("adapter")), QString("lora"));
    QVERIFY(!y.contains("load_in_4bit") && !y.contains("bnb_config_kwargs"));
    QCOMPARE(y.at("lora_alpha").get<int>(), 21);  // std::round(20.5), as the difference says
    QCOMPARE(y.at("max_steps").get<int>(), 120);
    QVERIFY(!y.contains("num_epochs"));
    QCOMPARE(QString::fromStdString(y.at("lr_scheduler")), QString("constant_with_warmup"));
    QCOMPARE(y.at("warmup_steps").get<int>(), 10);
    QCOMPARE(QString::fromStdString(y.at("optimizer")), QString("paged_adamw_32bit"));
    QCOMPARE(y.at("fp16").get<bool>(), true);
    QCOMPARE(y.at("bf16").get<bool>(), false);
    QCOMPARE(y.at("evals_per_epoch").get<int>(), 1);
    QVERIFY(!y.contains("eval_steps"));
    QCOMPARE(QString::fromStdString(y.at("save_strategy")), QString("no"));
    QVERIFY(!y.contains("save_steps"));
    for (const char* needle :
         {"GGUF file", "only whole numbers", "lora.seed 3", "weight decay after the Adam step",
          "loss scaling at 1024", "evaluated only at its end", "never stopped early"})
        if (!mentions(a.differences, needle))
            QFAIL(qPrintable(QString("no difference mentions '%1'").arg(needle)));
    QCOMPARE(a.differences.size(), std::size_t(7));

    // A constant rate without warm-up is HF's "constant"; no validation file: no evaluation keys;
    // an "auto" dtype stays auto; a non-bnb blocksize is a difference.
    TrainConfig d = busy_config("/data/train.jsonl");
    d.optim.schedule = {LrScheduleType::Constant, 0, 0.0};
    d.compute_dtype = "auto";
    d.base.blocksize = 128;
    const AxolotlConfig b = axolotl_config(d, "org/base", {"train.jsonl", ""});
    QCOMPARE(QString::fromStdString(b.config.at("lr_scheduler")), QString("constant"));
    QCOMPARE(QString::fromStdString(b.config.at("bf16")), QString("auto"));
    QVERIFY(!b.config.contains("fp16") && !b.config.contains("test_datasets") &&
            !b.config.contains("eval_steps") && !b.config.contains("early_stopping_patience") &&
            !b.config.contains("warmup_ratio"));
    // No warm-up is written as 0 steps: left out, axolotl would warm up for 3% of the steps.
    QCOMPARE(b.config.at("warmup_steps").get<int>(), 0);
    QVERIFY(mentions(b.differences, "blocks of 128"));
    QVERIFY(mentions(b.differences, "never stopped early"));
}

// Our warm-up is HF's: warmup_steps, else ceil(total x warmup_ratio); axolotl rounds the ratio's
// product down and turns 1 step into 2, so steps are written whenever the total is known.
void TestAxolotlExport::config_warmup_as_the_run_counted_it() {
    TrainConfig c = busy_config("/data/train.jsonl");
    c.max_steps = 120;
    c.optim.schedule = {LrScheduleType::Cosine, 0, 0.03};  // 3.6 steps: the run warmed up for 4
    AxolotlConfig a = axolotl_config(c, "org/base", {"train.jsonl", "valid.jsonl"});
    QCOMPARE(a.config.at("warmup_steps").get<int>(), 4);
    QVERIFY(!a.config.contains("warmup_ratio"));
    QCOMPARE(qlist(a.differences), QStringList{});

    c.max_steps = 0;  // from epochs: the total is not known here
    a = axolotl_config(c, "org/base", {"train.jsonl", ""});
    QCOMPARE(a.config.at("warmup_ratio").get<double>(), 0.03);
    QVERIFY(!a.config.contains("warmup_steps"));
    QVERIFY(mentions(a.differences, "rounds that product down"));

    c.optim.schedule = {LrScheduleType::Cosine, 1, 0.0};
    a = axolotl_config(c, "org/base", {"train.jsonl", ""});
    QCOMPARE(a.config.at("warmup_steps").get<int>(), 1);
    QVERIFY(mentions(a.differences, "turns a warm-up of 1 step into 2"));
}

// axolotl's early stopping needs checkpoints at a multiple of the evaluation interval (it loads
// the best one at the end, as our run does); the checkpoint cadence gives way, the training not.
void TestAxolotlExport::config_early_stopping() {
    TrainConfig c = busy_config("/data/train.jsonl");
    c.save_every = 40;
    c.early_stop_min_delta = 0.01;
    const AxolotlConfig a = axolotl_config(c, "org/base", {"train.jsonl", "valid.jsonl"});
    QCOMPARE(a.config.at("early_stopping_patience").get<int>(), 4);
    QCOMPARE(a.config.at("eval_steps").get<int>(), 25);
    QCOMPARE(a.config.at("save_steps").get<int>(), 25);
    QVERIFY(mentions(a.differences, "saves every 25 steps (the run: every 40)"));
    QVERIFY(mentions(a.differences, "early_stop_min_delta"));
    QCOMPARE(a.differences.size(), std::size_t(2));

    c.save_every = 0;
    const AxolotlConfig b = axolotl_config(c, "org/base", {"train.jsonl", "valid.jsonl"});
    QCOMPARE(b.config.at("save_steps").get<int>(), 25);
    QVERIFY(mentions(b.differences, "(the run: only at the end)"));
}

// Alpaca records under the Alpaca template: the decoded ids are the template's text with the
// tokenizer's BOS, the only labels are the response and its EOS.
void TestAxolotlExport::records_instruction() {
    ScratchDir s;
    const fs::path data = s.path() / "instructions.jsonl";
    qls::test::write_bytes(data, R"({"instruction": "Name a colour", "output": "Red"})"
                                 "\n"
                                 R"({"instruction": "Add", "input": "2 and 3", "output": "5"})"
                                 "\n");
    TrainConfig c;
    c.model = demo_model();
    c.data.path = data;
    c.data.chat_template = TemplateKind::Alpaca;
    c.data.valid_fraction = 0;
    const fs::path run = make_run(s.path() / "run", c);
    const AxolotlExportSummary sum = write_axolotl_export(run, demo_model(), s.path() / "out");
    QCOMPARE(sum.train, std::size_t(2));
    QCOMPARE(sum.valid, std::size_t(0));
    QVERIFY(!fs::exists(s.path() / "out" / "valid.jsonl"));
    const std::vector<json> records = read_jsonl(s.path() / "out" / "train.jsonl");
    QCOMPARE(records.size(), std::size_t(2));
    const std::string first =
        "<|endoftext|>Below is an instruction that describes a task. Write a response that appropriately "
        "completes "
        "the request.\n\n### Instruction:\nName a colour\n\n### Response:\nRed<|im_end|>";
    QCOMPARE(QString::fromStdString(demo_tok().decode(ints(records[0].at("input_ids")))),
             QString::fromStdString(first));
    // The ids of the whole text, as the run tokenized it (not segment by segment).
    std::vector<int> whole{*demo_tok().bos_id()};
    for (int id : demo_tok().encode(first.substr(std::string("<|endoftext|>").size()), false))
        whole.push_back(id);
    QCOMPARE(ints(records[0].at("input_ids")), whole);
    QCOMPARE(qlist(labeled_runs(records[0])), QStringList{"Red<|im_end|>"});
    QCOMPARE(qlist(labeled_runs(records[1])), QStringList{"5<|im_end|>"});
    QVERIFY(demo_tok().decode(ints(records[1].at("input_ids"))).find("### Input:\n2 and 3\n\n") !=
            std::string::npos);
    QCOMPARE(ints(records[0].at("attention_mask")), std::vector<int>(whole.size(), 1));
    const ordered_json y = parse_yaml(qls::test::read_bytes(s.path() / "out" / "config.yml"));
    QVERIFY(!y.contains("test_datasets"));
    // A local base is named by its absolute path (base_model_id.h), which axolotl loads.
    const fs::path base = y.at("base_model").get<std::string>();
    QVERIFY(base.is_absolute() && fs::equivalent(base, demo_model()));
    QVERIFY(qls::test::read_bytes(s.path() / "out" / "README.md").find("`base_model` is a local path") !=
            std::string::npos);
}

// Chat records under the model's own (ChatML) template, a separate validation file, and
// train_on_inputs: every token but the first is a label.
void TestAxolotlExport::records_chat_with_validation_file() {
    ScratchDir s;
    const fs::path data = s.path() / "chat.jsonl", valid = s.path() / "chat_valid.jsonl";
    const char* two_turns =
        R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},)"
        R"( {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"},)"
        R"( {"role": "assistant", "content": "4."}]})";
    qls::test::write_bytes(data, std::string(two_turns) + "\n");
    qls::test::write_bytes(
        valid,
        R"({"messages": [{"role": "user", "content": "Yo"}, {"role": "assistant", "content": "Ahoy"}]})"
        "\n");
    TrainConfig c;
    c.model = demo_model();
    c.data.path = data;
    c.data.valid_path = valid;
    const fs::path run = make_run(s.path() / "run", c);
    write_axolotl_export(run, demo_model(), s.path() / "out");
    const std::vector<json> train = read_jsonl(s.path() / "out" / "train.jsonl");
    const std::vector<json> val = read_jsonl(s.path() / "out" / "valid.jsonl");
    QCOMPARE(train.size(), std::size_t(1));
    QCOMPARE(val.size(), std::size_t(1));
    QCOMPARE(QString::fromStdString(demo_tok().decode(ints(train[0].at("input_ids")))),
             QString("<|endoftext|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                     "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
                     "<|im_start|>assistant\n4.<|im_end|>\n"));
    QCOMPARE(qlist(labeled_runs(train[0])), (QStringList{"Hello!<|im_end|>", "4.<|im_end|>"}));
    QCOMPARE(qlist(labeled_runs(val[0])), QStringList{"Ahoy<|im_end|>"});
    const ordered_json y = parse_yaml(qls::test::read_bytes(s.path() / "out" / "config.yml"));
    QCOMPARE(QString::fromStdString(y.at("test_datasets")[0].at("path")), QString("valid.jsonl"));

    c.data.train_on_inputs = true;
    const fs::path run2 = make_run(s.path() / "run2", c);
    write_axolotl_export(run2, demo_model(), s.path() / "out2");
    const json r = read_jsonl(s.path() / "out2" / "train.jsonl").at(0);
    const std::vector<int> ids = ints(r.at("input_ids")), labels = ints(r.at("labels"));
    QCOMPARE(labels[0], int(kIgnoreIndex));  // nothing precedes the first token to predict it
    QCOMPARE(std::vector<int>(labels.begin() + 1, labels.end()),
             std::vector<int>(ids.begin() + 1, ids.end()));
}

// Plain text: text + EOS, every token trained but the first; truncated at max_seq_len as the run was.
void TestAxolotlExport::records_plain_text() {
    ScratchDir s;
    const fs::path data = s.path() / "text.jsonl";
    std::string longer;
    for (int i = 0; i < 40; ++i) longer += "sails and sea ";
    qls::test::write_bytes(data, R"({"text": "The sea is wide."})"
                                 "\n" +
                                     json{{"text", longer}}.dump() + "\n");
    TrainConfig c;
    c.model = demo_model();
    c.data.path = data;
    c.data.valid_fraction = 0;
    c.data.max_seq_len = 32;
    const fs::path run = make_run(s.path() / "run", c);
    write_axolotl_export(run, demo_model(), s.path() / "out");
    const std::vector<json> records = read_jsonl(s.path() / "out" / "train.jsonl");
    QCOMPARE(records.size(), std::size_t(2));
    QCOMPARE(QString::fromStdString(demo_tok().decode(ints(records[0].at("input_ids")))),
             QString("<|endoftext|>The sea is wide.<|im_end|>"));
    QCOMPARE(qlist(labeled_runs(records[0])), QStringList{"The sea is wide.<|im_end|>"});
    QCOMPARE(records[1].at("input_ids").size(), std::size_t(32));
    QCOMPARE(records[1].at("labels").size(), std::size_t(32));
}

void TestAxolotlExport::readme_names_commands_and_differences() {
    TrainConfig c = busy_config("/data/train.jsonl");
    c.run_dir = "/runs/pirate";
    c.lora.alpha = 20.5;
    const AxolotlConfig a = axolotl_config(c, "org/base", {"train.jsonl", "valid.jsonl"});
    const std::string readme = axolotl_readme(c, a, {100, 5, 2, a.differences});
    for (const char* needle :
         {"axolotl train config.yml", "accelerate launch -m axolotl.cli.train config.yml",
          "--deepspeed deepspeed_configs/zero2.json", "zero3_bf16.json", "fsdp_config:", "3 x 5 = 15",
          "only whole numbers", "./outputs/adapter/", "adapter_model.safetensors", "100 training examples",
          "5 validation examples"})
        if (readme.find(needle) == std::string::npos)
            QFAIL(qPrintable(QString("README lacks '%1'").arg(needle)));
    QVERIFY(readme.find("local path") == std::string::npos);  // a Hub ID needs no word
    // The run's batch of 8 x 2 kept on more GPUs: accumulation shrinks first, then the micro-batch.
    c.micro_batch = 8;
    c.grad_accum = 2;
    const std::string more =
        axolotl_readme(c, axolotl_config(c, "org/base", {"train.jsonl", ""}), {1, 0, 0, {}});
    QVERIFY(
        more.find(
            "at 16: 2 GPUs: micro_batch_size 8, gradient_accumulation_steps 1; 4 GPUs: micro_batch_size 4, "
            "gradient_accumulation_steps 1; 8 GPUs: micro_batch_size 2, gradient_accumulation_steps 1.") !=
        std::string::npos);
}

void TestAxolotlExport::refuses_unreadable_runs() {
    ScratchDir s;
    const fs::path out = s.path() / "out";
    QLS_VERIFY_THROWS_WITH(write_axolotl_export(s.path(), demo_model(), out), ConfigError,
                           "is not a run folder");
    qls::test::write_bytes(s.path() / "run.json", "{\"config\": ");
    QLS_VERIFY_THROWS_WITH(write_axolotl_export(s.path(), demo_model(), out), FormatError, "run.json");
    qls::test::write_bytes(s.path() / "run.json", "{\"metrics\": 1}");
    QLS_VERIFY_THROWS_WITH(write_axolotl_export(s.path(), demo_model(), out), FormatError, "no \"config\"");
    qls::test::write_bytes(s.path() / "run.json", R"({"config": {"lora": {"r": "eight"}}})");
    QLS_VERIFY_THROWS_WITH(write_axolotl_export(s.path(), demo_model(), out), ConfigError, "lora.r");

    const fs::path data = s.path() / "text.jsonl";
    qls::test::write_bytes(data, R"({"text": "one"})"
                                 "\n");
    TrainConfig c;
    c.model = demo_model();
    c.data.path = data;
    const fs::path run = make_run(s.path() / "run", c);
    qls::test::write_bytes(data, R"({"text": "two"})"
                                 "\n");
    QLS_VERIFY_THROWS_WITH(write_axolotl_export(run, demo_model(), out), ConfigError,
                           "changed since the run");
    QVERIFY(!fs::exists(out));
}

// An earlier axolotl export is updated in place; other exports do not mistake it for theirs.
void TestAxolotlExport::destination_is_recognized() {
    ScratchDir s;
    const ExportTarget target{s.path() / "ax", ExportKind::Axolotl, false, {}, false};
    const auto write = [](const fs::path& dir) {
        fs::create_directories(dir);
        qls::test::write_bytes(dir / "config.yml", "seed: 1\n");
    };
    write_export(target, write);
    write_export(target, write);
    QCOMPARE(exported_files(target).size(), std::size_t(1));
    const ExportTarget peft{s.path() / "ax", ExportKind::Peft, false, {}, false};
    QLS_VERIFY_THROWS_WITH(check_export_target(peft), ConfigError,
                           "holds a QLoRA Studio axolotl config export, not a PEFT adapter");
}

// The adapter axolotl 0.19 (peft 0.20) saved after training the demo run's export for 4 steps
// (tests/tools/prove_axolotl_config.sh, tests/fixtures/export/axolotl_adapter): every pair is
// read, with the values of the file.
void TestAxolotlExport::axolotl_saved_adapter_opens() {
    const fs::path dir = qls::test::fixture_dir() / "export" / "axolotl_adapter";
    const LoraAdapter a = read_peft_adapter(dir);
    QCOMPARE(a.config.rank, std::int64_t(8));
    QCOMPARE(a.config.alpha, 16.0);
    QCOMPARE(a.config.dropout, 0.05);
    QCOMPARE(a.config.targets.size(), kAllLoraTargets.size());
    QCOMPARE(a.modules.size(), std::size_t(6 * 7));  // the demo model's 6 layers x 7 linears
    const SafetensorsFile f(dir / "adapter_model.safetensors");
    for (const auto& [module, pair] : a.modules) {
        const std::string key = "base_model.model." + module;
        QCOMPARE(pair.a, to_f32(f.tensor(key + ".lora_A.weight")));
        QCOMPARE(pair.b, to_f32(f.tensor(key + ".lora_B.weight")));
    }
    // Trained: axolotl's 4 steps moved B away from its zero initialization.
    const std::vector<float>& b = a.modules.at("model.layers.5.mlp.down_proj").b;
    QVERIFY(std::any_of(b.begin(), b.end(), [](float x) { return x != 0.0f; }));
}

// What axolotl's trainer saves (src/axolotl/loaders/adapter.py builds the LoraConfig; peft 0.20
// writes it): every key peft writes, target_modules in set order, modules_to_save null, an
// absolute base path, and bf16 factors when training ran in bf16. Also a regex target_modules,
// which `lora_target_modules: "..."` gives.
void TestAxolotlExport::axolotl_shaped_adapter_opens() {
    ScratchDir s;
    const std::int64_t r = 2, in = 4, out = 6;
    std::vector<OwnedTensor> tensors;
    const auto bf16_tensor = [&](const std::string& name, std::int64_t rows, std::int64_t cols, float base) {
        OwnedTensor t{name, DType::BF16, Shape{rows, cols}, {}};
        t.data.resize(std::size_t(rows * cols) * 2);
        for (std::int64_t i = 0; i < rows * cols; ++i) {
            const std::uint16_t h = f32_to_bf16(base + 0.25f * float(i));  // multiples of 1/4: exact in bf16
            std::memcpy(t.data.data() + i * 2, &h, 2);
        }
        tensors.push_back(std::move(t));
    };
    for (int layer = 0; layer < 2; ++layer)
        for (const char* m : {"self_attn.q_proj", "mlp.down_proj"}) {
            const std::string key = "base_model.model.model.layers." + std::to_string(layer) + "." + m;
            bf16_tensor(key + ".lora_A.weight", r, in, 1.0f);
            bf16_tensor(key + ".lora_B.weight", out, r, -1.0f);
        }
    write_safetensors(s.path() / "adapter_model.safetensors", named_views(tensors));
    json config = {{"alora_invocation_tokens", nullptr},
                   {"alpha_pattern", json::object()},
                   {"arrow_config", nullptr},
                   {"auto_mapping", nullptr},
                   {"base_model_name_or_path", "/models/pirate-base"},
                   {"bias", "none"},
                   {"corda_config", nullptr},
                   {"ensure_weight_tying", false},
                   {"eva_config", nullptr},
                   {"exclude_modules", nullptr},
                   {"fan_in_fan_out", nullptr},
                   {"inference_mode", true},
                   {"init_lora_weights", true},
                   {"layer_replication", nullptr},
                   {"layers_pattern", nullptr},
                   {"layers_to_transform", nullptr},
                   {"loftq_config", json::object()},
                   {"lora_alpha", 16},
                   {"lora_bias", false},
                   {"lora_dropout", 0.05},
                   {"megatron_config", nullptr},
                   {"megatron_core", "megatron.core"},
                   {"modules_to_save", nullptr},
                   {"peft_type", "LORA"},
                   {"peft_version", "0.20.0"},
                   {"qalora_group_size", 16},
                   {"r", r},
                   {"rank_pattern", json::object()},
                   {"revision", nullptr},
                   {"target_modules", {"down_proj", "q_proj"}},
                   {"target_parameters", json::array()},
                   {"task_type", "CAUSAL_LM"},
                   {"trainable_token_indices", nullptr},
                   {"use_dora", false},
                   {"use_qalora", false},
                   {"use_rslora", false}};
    qls::test::write_bytes(s.path() / "adapter_config.json", config.dump(2));
    LoraAdapter a = read_peft_adapter(s.path());
    QCOMPARE(a.config.rank, r);
    QCOMPARE(a.config.alpha, 16.0);
    QCOMPARE(a.config.dropout, 0.05);
    QCOMPARE(a.base_model, std::string("/models/pirate-base"));
    QVERIFY((a.config.targets == std::vector<LoraTarget>{LoraTarget::Q, LoraTarget::Down}));
    QCOMPARE(a.modules.size(), std::size_t(4));
    const LoraPair& p = a.modules.at("model.layers.1.mlp.down_proj");
    QCOMPARE(p.in, in);
    QCOMPARE(p.out, out);
    QCOMPARE(p.a[3], 1.75f);
    QCOMPARE(p.b[11], 1.75f);

    config["target_modules"] = ".*\\.(q_proj|down_proj)$";
    qls::test::write_bytes(s.path() / "adapter_config.json", config.dump(2));
    QCOMPARE(read_peft_adapter(s.path()).modules.size(), std::size_t(4));

    // Extra fully trained modules (axolotl's lora_modules_to_save) are refused with the reason.
    config["modules_to_save"] = {"embed_tokens", "lm_head"};
    qls::test::write_bytes(s.path() / "adapter_config.json", config.dump(2));
    QLS_VERIFY_THROWS_WITH(read_peft_adapter(s.path()), FormatError, "modules_to_save");
}

QTEST_GUILESS_MAIN(TestAxolotlExport)
#include "test_axolotl_export.moc"
