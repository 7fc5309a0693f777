// config.json parsing (formats.md §6.1), the expected tensor list (§6.2), the HF model loader
// on the transformers fixtures, and bitsandbytes pre-quantized checkpoints (§3).
#include <QtTest>

#include <cstring>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "core/io/bnb_checkpoint.h"
#include "core/io/safetensors_checkpoint.h"
#include "core/io/safetensors_writer.h"
#include "core/model/hf_model_loader.h"
#include "core/model/llama_config.h"
#include "core/model/llama_tensors.h"
#include "core/util/error.h"
#include "core/util/half.h"
#include "tests/test_support.h"

using namespace qls;
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

using test::read_bytes;
using test::write_bytes;

fs::path models() { return test::ref_dir() / "models"; }
fs::path bnb_dir() { return test::ref_dir() / "bnb"; }

Json read_json(const fs::path& p) { return Json::parse(read_bytes(p)); }

// A copy of a fixture folder the test may then damage.
void copy_folder(const fs::path& from, const fs::path& to) {
    for (const auto& e : fs::directory_iterator(from)) fs::copy_file(e.path(), to / e.path().filename());
}

bool same_bytes(const TensorView& a, const TensorView& b) {
    return a.dtype == b.dtype && a.shape == b.shape && a.data.size() == b.data.size() &&
           std::equal(a.data.begin(), a.data.end(), b.data.begin());
}

// A minimal Llama 2-style config (transformers 4.x spelling) to vary field by field.
Json llama2_config() {
    return Json::parse(R"({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
        "intermediate_size": 5632, "num_hidden_layers": 22, "num_attention_heads": 32,
        "num_key_value_heads": 4, "vocab_size": 32000, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
        "rope_scaling": null, "max_position_embeddings": 2048, "bos_token_id": 1, "eos_token_id": 2,
        "hidden_act": "silu", "tie_word_embeddings": false, "torch_dtype": "bfloat16"})");
}

}  // namespace

class TestModelIo : public QObject {
    Q_OBJECT
private slots:
    void parsesFixtureConfigs() {
        const LlamaConfig l = load_llama_config(models() / "llama3-tiny/config.json");
        QCOMPARE(l.model_type, std::string("llama"));
        QCOMPARE(l.architecture, std::string("LlamaForCausalLM"));
        QCOMPARE(l.hidden_size, std::int64_t(96));
        QCOMPARE(l.intermediate_size, std::int64_t(256));
        QCOMPARE(l.num_layers, std::int64_t(3));
        QCOMPARE(l.num_heads, std::int64_t(6));
        QCOMPARE(l.num_kv_heads, std::int64_t(2));
        QCOMPARE(l.head_dim, std::int64_t(16));
        QCOMPARE(l.vocab_size, std::int64_t(1024));
        QVERIFY(l.rope_scaling.type == RopeType::Llama3);
        QCOMPARE(l.rope_scaling.factor, 8.0);
        QCOMPARE(l.rope_scaling.low_freq_factor, 1.0);
        QCOMPARE(l.rope_scaling.high_freq_factor, 4.0);
        QCOMPARE(l.rope_scaling.original_max_position, std::int64_t(32));
        QCOMPARE(l.rope_theta, 500000.0);
        QCOMPARE(l.rms_norm_eps, 1e-5);
        QVERIFY(l.tie_word_embeddings);
        QVERIFY(!l.qkv_bias);
        QCOMPARE(l.bos_token_ids, std::vector<std::int64_t>{0});
        QCOMPARE(l.eos_token_ids, std::vector<std::int64_t>{4});
        QVERIFY(!l.pad_token_id);
        QCOMPARE(l.dtype, std::string("float32"));
        QVERIFY(!l.quantization);

        const LlamaConfig q = load_llama_config(models() / "qwen2-tiny/config.json");
        QCOMPARE(q.model_type, std::string("qwen2"));
        QVERIFY(q.qkv_bias);
        QVERIFY(!q.tie_word_embeddings);
        QCOMPARE(q.head_dim, std::int64_t(16));  // absent: hidden / heads
        QCOMPARE(q.rope_theta, 1e6);
        QVERIFY(q.rope_scaling.type == RopeType::Default);
        QVERIFY(q.bos_token_ids.empty());
        QCOMPARE(q.sliding_window, std::int64_t(0));

        const LlamaConfig m = load_llama_config(models() / "mistral-tiny/config.json");
        QCOMPARE(m.architecture, std::string("MistralForCausalLM"));
        QCOMPARE(m.num_kv_heads, m.num_heads);
        QCOMPARE(m.sliding_window, std::int64_t(0));
        QCOMPARE(load_llama_config(models() / "llama3-tiny-bf16-sharded/config.json").dtype, std::string("bfloat16"));

        const LlamaConfig b = load_llama_config(bnb_dir() / "llama3-tiny-nf4-dq/config.json");
        QVERIFY(b.quantization && b.quantization->quant_type == QuantType::NF4 && b.quantization->double_quant);
        QCOMPARE(b.quantization->compute_dtype, std::string("bfloat16"));
        const LlamaConfig f = load_llama_config(bnb_dir() / "llama3-tiny-fp4/config.json");
        QVERIFY(f.quantization && f.quantization->quant_type == QuantType::FP4 && !f.quantization->double_quant);
    }

    void parsesOtherSpellings() {
        Json j = llama2_config();
        LlamaConfig c = parse_llama_config(j, "tinyllama/config.json");
        QCOMPARE(c.head_dim, std::int64_t(64));
        QCOMPARE(c.dtype, std::string("bfloat16"));
        QVERIFY(c.rope_scaling.type == RopeType::Default);

        j["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};  // legacy key
        c = parse_llama_config(j, "x");
        QVERIFY(c.rope_scaling.type == RopeType::Linear && c.rope_scaling.factor == 4.0);
        j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 32.0}, {"low_freq_factor", 1.0},
                             {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
        j["rope_theta"] = 500000.0;
        j["eos_token_id"] = {128001, 128008, 128009};
        j.erase("num_key_value_heads");
        j["dtype"] = "float16";  // v5 spelling wins over torch_dtype
        c = parse_llama_config(j, "x");
        QVERIFY(c.rope_scaling.type == RopeType::Llama3 && c.rope_scaling.factor == 32.0);
        QCOMPARE(c.rope_scaling.original_max_position, std::int64_t(8192));
        QCOMPARE(c.rope_theta, 500000.0);
        QCOMPARE(c.eos_token_ids, (std::vector<std::int64_t>{128001, 128008, 128009}));
        QCOMPARE(c.num_kv_heads, std::int64_t(32));
        QCOMPARE(c.dtype, std::string("float16"));

        Json m = llama2_config();
        m["model_type"] = "mistral";
        m["architectures"] = {"MistralForCausalLM"};
        m["sliding_window"] = 4096;
        m["head_dim"] = nullptr;
        QCOMPARE(parse_llama_config(m, "x").sliding_window, std::int64_t(4096));

        Json q = read_json(bnb_dir() / "llama3-tiny-nf4-dq/config.json");
        q["quantization_config"].erase("bnb_4bit_quant_storage");  // older checkpoints
        QCOMPARE(parse_llama_config(q, "x").quantization->quant_storage, std::string("uint8"));
    }

    void rejectsUnsupportedConfigs() {
        auto expect = [](Json j, const char* needle) {
            QLS_VERIFY_THROWS_WITH(parse_llama_config(j, "m/config.json"), FormatError, needle);
            QLS_VERIFY_THROWS_WITH(parse_llama_config(j, "m/config.json"), FormatError, "m/config.json");
        };
        Json j = llama2_config();
        j["model_type"] = "gpt2";
        expect(j, "field 'model_type': unsupported architecture 'gpt2'");
        j["model_type"] = "mixtral";
        expect(j, "unsupported architecture 'mixtral'");
        j = llama2_config();
        j["architectures"] = {"LlamaForSequenceClassification"};
        expect(j, "field 'architectures'");
        j = llama2_config();
        j["mlp_bias"] = true;
        expect(j, "field 'mlp_bias'");
        j = llama2_config();
        j["attention_bias"] = true;
        expect(j, "field 'attention_bias'");
        j = llama2_config();
        j["hidden_act"] = "gelu";
        expect(j, "field 'hidden_act': unsupported activation 'gelu'");
        for (const char* type : {"yarn", "dynamic", "longrope"}) {
            j = llama2_config();
            j["rope_scaling"] = {{"rope_type", type}, {"factor", 2.0}};
            expect(j, (std::string("field 'rope_scaling.rope_type': unsupported rope type '") + type + "'").c_str());
        }
        j = read_json(models() / "llama3-tiny/config.json");
        j["rope_parameters"]["rope_type"] = "yarn";
        expect(j, "field 'rope_parameters.rope_type': unsupported rope type 'yarn'");
        j = read_json(models() / "llama3-tiny/config.json");
        j["rope_parameters"].erase("low_freq_factor");
        expect(j, "missing field 'rope_parameters.low_freq_factor'");
        j = llama2_config();
        j["num_key_value_heads"] = 5;
        expect(j, "field 'num_key_value_heads' (5) does not divide num_attention_heads (32)");
        j = llama2_config();
        j["num_attention_heads"] = 30;
        j["num_key_value_heads"] = 30;
        expect(j, "field 'num_attention_heads' (30) does not divide hidden_size (2048)");
        j = llama2_config();
        j.erase("hidden_size");
        expect(j, "missing field 'hidden_size'");
        j = llama2_config();
        j["vocab_size"] = "many";
        expect(j, "field 'vocab_size' is \"many\", expected an integer");
        j = read_json(bnb_dir() / "llama3-tiny-nf4-dq/config.json");
        j["quantization_config"]["load_in_8bit"] = true;
        expect(j, "field 'quantization_config.load_in_8bit': 8-bit");
        j["quantization_config"]["quant_method"] = "gptq";
        expect(j, "field 'quantization_config.quant_method': unsupported quantization method 'gptq'");
        j = read_json(bnb_dir() / "llama3-tiny-nf4-dq/config.json");
        j["quantization_config"]["bnb_4bit_quant_storage"] = "bfloat16";
        expect(j, "only uint8 storage");
        j = read_json(models() / "qwen2-tiny/config.json");
        j["use_sliding_window"] = true;
        expect(j, "field 'use_sliding_window'");
        QLS_VERIFY_THROWS_WITH(load_llama_config(models() / "absent/config.json"), IoError, "absent/config.json");
    }

    // transformers wrote every tensor the model has: the expected list must be exactly those.
    void expectedTensorsMatchTransformers() {
        for (const char* m : {"llama3-tiny", "qwen2-tiny", "mistral-tiny", "llama3-tiny-bf16-sharded"}) {
            const LlamaConfig c = load_llama_config(models() / m / "config.json");
            const auto ckpt = SafetensorsCheckpoint::open(models() / m);
            std::set<std::string> expected, got(ckpt.names().begin(), ckpt.names().end());
            for (const auto& e : llama_expected_tensors(c)) {
                expected.insert(e.name);
                QCOMPARE(ckpt.tensor(e.name).shape, e.shape);
                const bool linear = e.name.find("_proj.weight") != std::string::npos;
                QCOMPARE(e.linear, linear);
            }
            QCOMPARE(expected, got);
        }
        // transformers' own count (index metadata total_parameters).
        const Json index = read_json(models() / "llama3-tiny-bf16-sharded/model.safetensors.index.json");
        QCOMPARE(parameter_count(load_llama_config(models() / "llama3-tiny/config.json")),
                 index["metadata"]["total_parameters"].get<std::int64_t>());
    }

    void loadsEveryFixtureModel() {
        for (const char* m : {"llama3-tiny", "qwen2-tiny", "mistral-tiny", "llama3-tiny-bf16-sharded"}) {
            const LoadedModel lm = load_hf_model(models() / m);
            QVERIFY(lm.weights.format == ModelFormat::HfSafetensors);
            QCOMPARE(lm.weights.tensors.size(), llama_expected_tensors(lm.config).size());
            QVERIFY(unexpected_tensors(lm.config, lm.weights).empty());
        }
        const LoadedModel q = load_hf_model(models() / "qwen2-tiny");
        const auto& bias = q.weights.get("model.layers.1.self_attn.k_proj.bias");
        QCOMPARE(bias.shape, (Shape{32}));
        const auto b = to_f32(bias.view);
        QVERIFY(std::any_of(b.begin(), b.end(), [](float x) { return x != 0; }));
        QVERIFY(q.weights.contains("lm_head.weight"));
        QVERIFY(!load_hf_model(models() / "llama3-tiny").weights.contains("lm_head.weight"));
    }

    void shardedBf16IsTheFp32ModelRounded() {
        const LoadedModel f32 = load_hf_model(models() / "llama3-tiny");
        const LoadedModel bf16 = load_hf_model(models() / "llama3-tiny-bf16-sharded");
        QCOMPARE(bf16.weights.files.size(), std::size_t(4));
        for (const auto& [name, w] : f32.weights.tensors) {
            const auto& h = bf16.weights.get(name);
            QVERIFY(h.view.dtype == DType::BF16);
            const auto a = w.view.as<float>();
            const auto b = h.view.as<std::uint16_t>();
            QCOMPARE(a.size(), b.size());
            for (std::size_t i = 0; i < a.size(); ++i)
                if (f32_to_bf16(a[i]) != b[i]) QFAIL(qPrintable(QString::fromStdString(name)));
        }
    }

    // Each 4-bit weight read and serialized again gives the checkpoint's tensors byte for
    // byte, and the whole file written again is the file transformers wrote.
    void bnbCheckpointsRoundTrip() {
        for (const char* m : {"llama3-tiny-nf4-dq", "llama3-tiny-fp4"}) {
            const auto dir = bnb_dir() / m;
            const LoadedModel lm = load_hf_model(dir);
            QVERIFY(lm.weights.format == ModelFormat::BnbPrequantized);
            const auto ckpt = SafetensorsCheckpoint::open(dir);
            std::vector<OwnedTensor> owned;
            std::vector<NamedTensor> all;
            int quantized = 0;
            for (const auto& e : llama_expected_tensors(lm.config)) {
                const Weight& w = lm.weights.get(e.name);
                QCOMPARE(w.is_quantized(), e.linear);
                if (!w.is_quantized()) {
                    all.push_back({e.name, w.view});
                    continue;
                }
                ++quantized;
                QCOMPARE(w.quantized->shape, e.shape);
                QCOMPARE(w.quantized->blocksize, 64);
                QVERIFY(w.quantized->dtype == DType::F32);
                for (auto& t : bnb_serialize(e.name, *w.quantized)) {
                    const TensorView* ref = ckpt.find(t.name);
                    if (!ref || !same_bytes(t.view(), *ref)) QFAIL(qPrintable(QString::fromStdString(t.name)));
                    owned.push_back(std::move(t));
                }
            }
            QCOMPARE(quantized, 21);
            for (const auto& t : owned) all.push_back({t.name, t.view()});
            QCOMPARE(all.size(), ckpt.names().size());
            QCOMPARE(serialize_safetensors(all, {{"format", "pt"}}), read_bytes(dir / "model.safetensors"));
        }
        const LoadedModel nf4 = load_hf_model(bnb_dir() / "llama3-tiny-nf4-dq");
        const auto& q = *nf4.weights.get("model.layers.0.mlp.down_proj.weight").quantized;
        QVERIFY(q.type == QuantType::NF4 && q.nested && q.absmax.empty());
        QCOMPARE(q.nested->offset, float(0.2568356990814209));  // from the quant_state JSON
        QCOMPARE(q.nested->codes.size(), std::size_t(384));
        QCOMPARE(q.nested->absmax.size(), std::size_t(2));
        QCOMPARE(q.quant_map[0], -1.0f);
    }

    // Python repr() of these doubles (CPython 3.11).
    void printsFloatsLikePython() {
        const std::pair<double, const char*> cases[] = {
            {1e-05, "1e-05"}, {1.5e-07, "1.5e-07"}, {0.0001, "0.0001"}, {0.00012, "0.00012"},
            {1e16, "1e+16"}, {1234567890123456.0, "1234567890123456.0"}, {12345678901234567.0, "1.2345678901234568e+16"},
            {0.1, "0.1"}, {100.0, "100.0"}, {-0.0, "-0.0"}, {0.0, "0.0"}, {5e-324, "5e-324"},
            {1.7976931348623157e308, "1.7976931348623157e+308"}, {123.456, "123.456"}, {-2.5e-10, "-2.5e-10"},
            {double(0.051456332f), "0.051456332206726074"}, {1e22, "1e+22"}, {9999999999999998.0, "9999999999999998.0"}};
        for (const auto& [v, s] : cases) QCOMPARE(python_float_repr(v), std::string(s));
        QCOMPARE(python_float_repr(std::numeric_limits<double>::infinity()), std::string("Infinity"));
        QCOMPARE(python_float_repr(std::nan("")), std::string("NaN"));
    }

    void rejectsBrokenModels() {
        const fs::path l3 = models() / "llama3-tiny";
        {  // config says one size, the tensors another
            test::ScratchDir dir;
            copy_folder(l3, dir.path());
            Json j = read_json(l3 / "config.json");
            j["intermediate_size"] = 128;
            write_bytes(dir.path() / "config.json", j.dump());
            QLS_VERIFY_THROWS_WITH(load_hf_model(dir.path()), FormatError,
                                   "model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight': expected [128, 96], got [256, 96]");
            QLS_VERIFY_THROWS_WITH(load_hf_model(dir.path()), FormatError, ("while loading " + dir.path().string()).c_str());
        }
        {  // a tensor left out
            test::ScratchDir dir;
            copy_folder(l3, dir.path());
            const SafetensorsFile f(l3 / "model.safetensors");
            std::vector<NamedTensor> kept;
            for (const auto& t : f.tensors())
                if (t.name != "model.layers.2.post_attention_layernorm.weight") kept.push_back(t);
            write_safetensors(dir.path() / "model.safetensors", kept, {{"format", "pt"}});
            QLS_VERIFY_THROWS_WITH(load_hf_model(dir.path()), FormatError,
                                   "missing tensor 'model.layers.2.post_attention_layernorm.weight'");
        }
        {  // unsupported architecture
            test::ScratchDir dir;
            copy_folder(l3, dir.path());
            Json j = read_json(l3 / "config.json");
            j["model_type"] = "gpt2";
            write_bytes(dir.path() / "config.json", j.dump());
            QLS_VERIFY_THROWS_WITH(load_hf_model(dir.path()), FormatError, "config.json: field 'model_type'");
        }
        {  // a missing shard
            test::ScratchDir dir;
            copy_folder(models() / "llama3-tiny-bf16-sharded", dir.path());
            fs::remove(dir.path() / "model-00002-of-00004.safetensors");
            QLS_VERIFY_THROWS_WITH(load_hf_model(dir.path()), FormatError, "model-00002-of-00004.safetensors' is missing");
        }
        {  // config.json absent: the folder is named as not a model, with what would be
            test::ScratchDir dir;
            QLS_VERIFY_THROWS_WITH(load_hf_model(dir.path()), FormatError,
                                   (dir.path().string() + "' is not a model folder: it has no config.json").c_str());
        }
    }

    void rejectsBrokenQuantStates() {
        const fs::path src = bnb_dir() / "llama3-tiny-nf4-dq";
        const std::string w = "model.layers.1.self_attn.o_proj.weight";
        const std::string qs = w + ".quant_state.bitsandbytes__nf4";
        // Rewrite the checkpoint with one tensor replaced.
        auto damaged = [&](const test::ScratchDir& dir, const std::string& name, const OwnedTensor& replacement) {
            copy_folder(src, dir.path());
            fs::remove(dir.path() / "model.safetensors");
            const SafetensorsFile f(src / "model.safetensors");
            std::vector<NamedTensor> ts;
            for (const auto& t : f.tensors())
                if (t.name != name) ts.push_back(t);
            if (!replacement.name.empty()) ts.push_back({replacement.name, replacement.view()});
            write_safetensors(dir.path() / "model.safetensors", ts, {{"format", "pt"}});
        };
        auto json_tensor = [&](const std::string& text) {
            OwnedTensor t{qs, DType::U8, {std::int64_t(text.size())}, std::vector<std::byte>(text.size())};
            std::memcpy(t.data.data(), text.data(), text.size());
            return t;
        };
        const std::string good = R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [96, 96], )"
                                 R"("nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.25})";
        const std::pair<std::string, const char*> cases[] = {
            {R"({"quant_type": "nf4", "blocksize": 64, )", "quant_state is not valid JSON"},
            {R"({"quant_type": "fp4", "blocksize": 64, "dtype": "float32", "shape": [96, 96]})", "field 'quant_type'"},
            {R"({"quant_type": "nf4", "blocksize": 48, "dtype": "float32", "shape": [96, 96]})", "field 'blocksize' is 48"},
            {R"({"quant_type": "nf4", "blocksize": 64, "dtype": "int8", "shape": [96, 96]})", "field 'dtype'"},
            {R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float32"})", "lacks field 'shape'"},
            {R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [96, 97], "nested_blocksize": 256, "nested_offset": 0.25})",
             "expected 4656 packed bytes for shape [96, 97]"},
            {R"({"quant_type": "nf4", "blocksize": 32, "dtype": "float32", "shape": [96, 96], "nested_blocksize": 256, "nested_offset": 0.25})",
             "tensor 'model.layers.1.self_attn.o_proj.weight.absmax': expected U8 with 288 elements, got U8 [144]"},
            {R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [96, 96]})",
             "weight.absmax': expected F32 with 144 elements, got U8 [144]"},
            {R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [96, 96], "nested_blocksize": 32, "nested_offset": 0.25})",
             "weight.nested_absmax': expected F32 with 5 elements, got F32 [1]"},
            {R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [96, -96]})", "expected non-negative sizes"},
        };
        {
            test::ScratchDir dir;
            damaged(dir, qs, json_tensor(good));
            QVERIFY(load_hf_model(dir.path()).weights.get(w).quantized->nested->offset == 0.25f);
        }
        for (const auto& [text, needle] : cases) {
            test::ScratchDir dir;
            damaged(dir, qs, json_tensor(text));
            QLS_VERIFY_THROWS_WITH(load_hf_model(dir.path()), FormatError, needle);
            QLS_VERIFY_THROWS_WITH(load_hf_model(dir.path()), FormatError, ("model.safetensors: tensor '" + w).c_str());
        }
        {
            test::ScratchDir dir;
            damaged(dir, w + ".nested_quant_map", {});
            QLS_VERIFY_THROWS_WITH(load_hf_model(dir.path()), FormatError, ("missing tensor '" + w + ".nested_quant_map'").c_str());
        }
        {
            test::ScratchDir dir;
            damaged(dir, qs, {});  // the quant_state gone: the packed bytes no longer make a model
            QLS_VERIFY_THROWS_WITH(load_hf_model(dir.path()), FormatError, ("tensor '" + w + "': expected [96, 96], got [4608, 1]").c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestModelIo)
#include "test_model_io.moc"
