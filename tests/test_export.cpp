// Exports against their references: peft's own adapter folders (ref/lora), the merge
// W + scaling·B·A recomputed here in double precision, GGUF files laid out by llama.cpp's
// gguf-py (tests/fixtures/gguf, see make_gguf_fixtures.py), an independent Q8_0 quantizer and
// fp16 conversion (Qt's qfloat16), and the tokenizer.json tokenizer.
#include <QtTest>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "core/export/ggml_encode.h"
#include "core/export/gguf_lora_export.h"
#include "core/export/gguf_model_export.h"
#include "core/export/gguf_tokenizer_export.h"
#include "core/export/gguf_writer.h"
#include "core/export/merged_export.h"
#include "core/export/ollama_modelfile.h"
#include "core/export/peft_adapter.h"
#include "core/io/gguf_reader.h"
#include "core/io/safetensors_checkpoint.h"
#include "core/io/safetensors_writer.h"
#include "core/model/gguf_model_loader.h"
#include "core/model/model_loader.h"
#include "core/tokenizer/gguf_tokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/tokenizer_config.h"
#include "core/util/half.h"
#include "test_support.h"

using namespace qls;
using nlohmann::json;
namespace fs = std::filesystem;
using qls::test::ScratchDir;

namespace {

fs::path ref_lora(const char* name) {
    return qls::test::ref_dir() / "lora" / name;
}
fs::path ref_model(const char* name) {
    return qls::test::ref_dir() / "models" / name;
}
fs::path gguf_fixture(const char* name) {
    return qls::test::fixture_dir() / "gguf" / name;
}
json read_json(const fs::path& p) {
    return json::parse(read_text_file(p));
}

std::vector<double> f64_of(const TensorView& t) {
    const std::vector<float> f = to_f32(t);
    return {f.begin(), f.end()};
}

// Byte-for-byte equality of two buffers (tensor data, whole files).
bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

// The §9.3 permutation written out independently: new row h*hd + 2j + t = old row h*hd + t*hd/2 + j.
std::int64_t permuted_source_row(std::int64_t row, std::int64_t hd) {
    const std::int64_t h = row / hd, within = row % hd;
    return h * hd + (within % 2) * (hd / 2) + within / 2;
}

// ggml's quantize_row_q8_0_ref, block by block, with Qt's fp16.
std::vector<std::uint8_t> reference_q8_0(const std::vector<float>& x) {
    std::vector<std::uint8_t> out;
    for (std::size_t b = 0; b < x.size(); b += 32) {
        float amax = 0;
        for (std::size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
        const float d = amax / 127.0f;
        const float id = d == 0 ? 0.0f : 1.0f / d;
        const qfloat16 dh(d);
        std::uint16_t bits;
        std::memcpy(&bits, &dh, 2);
        out.push_back(std::uint8_t(bits & 0xff));
        out.push_back(std::uint8_t(bits >> 8));
        for (std::size_t j = 0; j < 32; ++j)
            out.push_back(std::uint8_t(std::int8_t(std::lround(x[b + j] * id))));
    }
    return out;
}

LoraAdapter zero_b(LoraAdapter a) {
    for (auto& [name, p] : a.modules) std::fill(p.b.begin(), p.b.end(), 0.0f);
    return a;
}

}  // namespace

class TestExport : public QObject {
    Q_OBJECT

private slots:
    void peftReadsReference_data();
    void peftReadsReference();
    void peftWritesWhatPeftWrites_data() { peftReadsReference_data(); }
    void peftWritesWhatPeftWrites();
    void peftBadFolders();
    void mergedMatchesIndependentMath();
    void mergedZeroAdapterIsBf16BaseSharded();
    void mergedOnPrequantizedBase();
    void ggufWriterRoundTrip();
    void q8_0MatchesReference();
    void ggufMatchesConverterLayout_data();
    void ggufMatchesConverterLayout();
    void mergedGgufReloads();
    void ggufTokenizerEncodesLikeJson_data();
    void ggufTokenizerEncodesLikeJson();
    void ggufLoraAdapter();
    void ollamaModelfile();
};

void TestExport::peftReadsReference_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("rslora");
    QTest::newRow("llama3") << "llama3-tiny" << false;
    QTest::newRow("qwen2-rslora") << "qwen2-tiny-rslora" << true;
}

void TestExport::peftReadsReference() {
    QFETCH(QString, name);
    QFETCH(bool, rslora);
    const fs::path dir = ref_lora(name.toUtf8().constData());
    const LoraAdapter a = read_peft_adapter(dir);
    QCOMPARE(a.config.rank, 4);
    QCOMPARE(a.config.alpha, 8.0);
    QCOMPARE(a.config.rslora, rslora);
    QCOMPARE(a.config.scaling(), rslora ? 4.0 : 2.0);
    QCOMPARE(a.config.targets.size(), 7u);
    const SafetensorsFile f(dir / "adapter_model.safetensors");
    QCOMPARE(a.modules.size() * 2, f.names().size());
    for (const auto& [module, p] : a.modules) {
        const TensorView& ta = f.tensor("base_model.model." + module + ".lora_A.weight");
        const TensorView& tb = f.tensor("base_model.model." + module + ".lora_B.weight");
        QCOMPARE(Shape({p.rank, p.in}), ta.shape);
        QCOMPARE(Shape({p.out, p.rank}), tb.shape);
        QVERIFY(same_bytes(std::as_bytes(std::span(p.a)), ta.data));
        QVERIFY(same_bytes(std::as_bytes(std::span(p.b)), tb.data));
    }
}

void TestExport::peftWritesWhatPeftWrites() {
    QFETCH(QString, name);
    const fs::path ref = ref_lora(name.toUtf8().constData());
    const LoraAdapter a = read_peft_adapter(ref);
    ScratchDir scratch;
    const fs::path out = scratch.path() / "adapter";
    ModelCard card{"demo/chat.jsonl", 120, 1.25, 1.5, 2e-4, 16, 256, "nf4, blocksize 64, double quant",
                   "2025-01-02"};
    write_peft_adapter(a, out, card);
    write_peft_adapter(a, out, card);  // replacing an existing folder works too

    const json mine = read_json(out / "adapter_config.json"), theirs = read_json(ref / "adapter_config.json");
    QCOMPARE(mine.size(), theirs.size());
    for (const auto& [key, value] : theirs.items()) {
        QVERIFY2(mine.contains(key), key.c_str());
        QVERIFY2(mine[key].type() == value.type(), key.c_str());
        if (key == "base_model_name_or_path") continue;
        if (key == "target_modules") {
            QCOMPARE(mine[key].get<std::set<std::string>>(), value.get<std::set<std::string>>());
            continue;
        }
        QVERIFY2(mine[key] == value, (key + ": " + mine[key].dump() + " vs " + value.dump()).c_str());
    }
    // peft wrote the absolute path it was given, and we keep what the adapter records.
    const std::string base = theirs["base_model_name_or_path"];
    QCOMPARE(mine["base_model_name_or_path"].get<std::string>(), base);
    QCOMPARE(qls::test::read_bytes(out / "adapter_model.safetensors"),
             qls::test::read_bytes(ref / "adapter_model.safetensors"));

    const std::string readme = qls::test::read_bytes(out / "README.md");
    // A local path is no Hub repo ID: it stays out of the front matter, and the card says what to pass.
    QVERIFY(readme.starts_with("---\nlibrary_name: peft\n"));
    QVERIFY(readme.find("works only where that path exists") != std::string::npos);
    for (const char* needle : {"- lora\n", "demo/chat.jsonl", "train 1.2500, validation 1.5000",
                               "**Steps:** 120", "2025-01-02", "r 4, alpha 8"})
        QVERIFY2(readme.find(needle) != std::string::npos, needle);
    QVERIFY(readme.find(scratch.path().string()) == std::string::npos);

    const LoraAdapter back = read_peft_adapter(out);
    QCOMPARE(back.config.rslora, a.config.rslora);
    QCOMPARE(back.modules.size(), a.modules.size());
    for (const auto& [module, p] : a.modules) {
        QCOMPARE(back.modules.at(module).a, p.a);
        QCOMPARE(back.modules.at(module).b, p.b);
    }
}

void TestExport::peftBadFolders() {
    ScratchDir scratch;
    const fs::path ref = ref_lora("llama3-tiny");
    const auto copy_ref = [&](const char* name) {
        const fs::path d = scratch.path() / name;
        fs::create_directories(d);
        for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})
            fs::copy_file(ref / f, d / f);
        fs::permissions(d / "adapter_config.json", fs::perms::owner_write, fs::perm_options::add);
        return d;
    };
    const fs::path missing = copy_ref("missing");
    fs::remove(missing / "adapter_model.safetensors");
    QLS_VERIFY_THROWS_WITH(read_peft_adapter(missing), FormatError, "adapter_model.safetensors is missing");

    const auto with_config = [&](const char* name, const char* key, const json& value) {
        const fs::path d = copy_ref(name);
        json j = read_json(d / "adapter_config.json");
        j[key] = value;
        qls::test::write_bytes(d / "adapter_config.json", j.dump(2));
        return d;
    };
    QLS_VERIFY_THROWS_WITH(read_peft_adapter(with_config("loha", "peft_type", "LOHA")), FormatError,
                           "adapter_config.json: key 'peft_type' is \"LOHA\"");
    QLS_VERIFY_THROWS_WITH(read_peft_adapter(with_config("dora", "use_dora", true)), FormatError,
                           "key 'use_dora' is true: DoRA");
    QLS_VERIFY_THROWS_WITH(read_peft_adapter(with_config("bias", "bias", "all")), FormatError, "key 'bias'");
    QLS_VERIFY_THROWS_WITH(
        read_peft_adapter(with_config("rank", "r", 8)), FormatError,
        "tensor 'base_model.model.model.layers.0.mlp.down_proj.lora_A.weight' has shape [4, 256]");

    // lora_B of the wrong rank.
    const fs::path shapes = copy_ref("shapes");
    const SafetensorsFile f(ref / "adapter_model.safetensors");
    std::vector<OwnedTensor> tensors;
    for (const NamedTensor& t : f.tensors()) {
        OwnedTensor o{t.name, t.view.dtype, t.view.shape, {t.view.data.begin(), t.view.data.end()}};
        if (t.name == "base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight") {
            o.shape = {16, 8};
        }
        tensors.push_back(std::move(o));
    }
    write_safetensors(shapes / "adapter_model.safetensors", named_views(tensors), {{"format", "pt"}});
    QLS_VERIFY_THROWS_WITH(
        read_peft_adapter(shapes), FormatError,
        "tensor 'base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight' has shape [16, 8]");
    for (OwnedTensor& t : tensors)
        if (t.name == "base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight") t.shape = {32, 4};
    tensors.pop_back();  // the last one by name: layers.2.self_attn.v_proj.lora_B
    write_safetensors(shapes / "adapter_model.safetensors", named_views(tensors), {{"format", "pt"}});
    QLS_VERIFY_THROWS_WITH(read_peft_adapter(shapes), FormatError, "has no partner");

    // An adapter saved from a run that diverged: one NaN makes it unusable, and it says so
    // instead of giving an empty reply or a NaN loss downstream. Nor is one ever written.
    const fs::path nan = copy_ref("nan");
    std::vector<OwnedTensor> poisoned;
    for (const NamedTensor& t : f.tensors()) poisoned.push_back({t.name, t.view.dtype, t.view.shape, {t.view.data.begin(), t.view.data.end()}});
    const float bad = NAN;
    std::memcpy(poisoned.front().data.data() + 4, &bad, sizeof bad);
    write_safetensors(nan / "adapter_model.safetensors", named_views(poisoned), {{"format", "pt"}});
    const std::string nan_message = "tensor '" + poisoned.front().name + "' holds NaN or infinite values";
    QLS_VERIFY_THROWS_WITH(read_peft_adapter(nan), FormatError, nan_message.c_str());
    LoraAdapter diverged = read_peft_adapter(ref);
    diverged.modules.begin()->second.b.back() = INFINITY;
    QLS_VERIFY_THROWS_WITH(write_peft_adapter(diverged, scratch.path() / "never", {}), ConfigError,
                           "holds NaN or infinite values");
    QVERIFY(!fs::exists(scratch.path() / "never"));
}

// Every linear: bf16(W + scaling·B·A) with the product in double, from the fixture files.
void TestExport::mergedMatchesIndependentMath() {
    const Model model = load_model(ref_model("llama3-tiny"));
    const LoraAdapter adapter = read_peft_adapter(ref_lora("llama3-tiny"));
    ScratchDir scratch;
    const fs::path out = scratch.path() / "merged";
    const MergedExportSummary s = export_merged_model(model, adapter, out);
    QCOMPARE(s.shards, 1u);
    QCOMPARE(s.merged, 21u);
    const SafetensorsFile merged(out / "model.safetensors");
    const SafetensorsFile base(ref_model("llama3-tiny") / "model.safetensors");
    const SafetensorsFile lora(ref_lora("llama3-tiny") / "adapter_model.safetensors");
    QCOMPARE(merged.names().size(), base.names().size());
    QCOMPARE(merged.metadata("format"), std::optional<std::string>("pt"));
    double worst = 0;
    for (const std::string& name : base.names()) {
        const TensorView& got = merged.tensor(name);
        QCOMPARE(got.dtype, DType::BF16);
        QCOMPARE(got.shape, base.tensor(name).shape);
        std::vector<double> want = f64_of(base.tensor(name));
        const std::string module = name.substr(0, name.size() - 7);
        const std::string key = "base_model.model." + module;
        if (lora.contains(key + ".lora_A.weight")) {
            const std::vector<double> a = f64_of(lora.tensor(key + ".lora_A.weight"));
            const std::vector<double> b = f64_of(lora.tensor(key + ".lora_B.weight"));
            const std::int64_t out_f = got.shape[0], in_f = got.shape[1], r = 4;
            for (std::int64_t o = 0; o < out_f; ++o)
                for (std::int64_t i = 0; i < in_f; ++i) {
                    double d = 0;
                    for (std::int64_t k = 0; k < r; ++k)
                        d += b[std::size_t(o * r + k)] * a[std::size_t(k * in_f + i)];
                    want[std::size_t(o * in_f + i)] += 2.0 * d;  // scaling = 8 / 4
                }
        }
        const std::vector<float> values = to_f32(got);
        for (std::size_t i = 0; i < want.size(); ++i) {
            // bf16 keeps 8 significant bits: rounding moves a value by at most 2^-9 of it.
            const double err = std::fabs(values[i] - want[i]);
            worst = std::max(worst, err / (std::fabs(want[i]) + 1e-30));
            QVERIFY2(err <= std::ldexp(std::fabs(want[i]), -8) + 1e-30,
                     qPrintable(QString::fromStdString(name)));
        }
    }
    QVERIFY(worst > 1e-4);  // bf16 really was written
    const json config = read_json(out / "config.json");
    QCOMPARE(config["dtype"].get<std::string>(), std::string("bfloat16"));
    QCOMPARE(config["rope_parameters"],
             read_json(ref_model("llama3-tiny") / "config.json")["rope_parameters"]);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
        QCOMPARE(qls::test::read_bytes(out / f), qls::test::read_bytes(ref_model("llama3-tiny") / f));
    QVERIFY(!fs::exists(out / "model.safetensors.index.json"));
}

void TestExport::mergedZeroAdapterIsBf16BaseSharded() {
    const Model model = load_model(ref_model("llama3-tiny"));
    const LoraAdapter adapter = zero_b(read_peft_adapter(ref_lora("llama3-tiny")));
    ScratchDir scratch;
    MergedExportOptions o;
    o.max_shard_bytes = 300'000;
    const MergedExportSummary s = export_merged_model(model, adapter, scratch.path() / "m", o);
    QVERIFY(s.shards > 1);
    const json index = read_json(scratch.path() / "m" / "model.safetensors.index.json");
    QCOMPARE(index["metadata"]["total_size"].get<std::uint64_t>(), s.total_bytes);
    QCOMPARE(index["metadata"]["total_parameters"].get<std::uint64_t>(), s.total_bytes / 2);
    QCOMPARE(index["weight_map"]["model.embed_tokens.weight"].get<std::string>(),
             "model-00001-of-0000" + std::to_string(s.shards) + ".safetensors");
    const auto ckpt = SafetensorsCheckpoint::open(scratch.path() / "m");
    const SafetensorsFile base(ref_model("llama3-tiny") / "model.safetensors");
    QCOMPARE(ckpt.names().size(), base.names().size());
    for (const std::string& name : base.names()) {
        const std::vector<float> b = to_f32(base.tensor(name));
        std::vector<std::uint16_t> want(b.size());
        for (std::size_t i = 0; i < b.size(); ++i) want[i] = f32_to_bf16(b[i]);
        QVERIFY2(same_bytes(std::as_bytes(std::span(want)), ckpt.tensor(name).data), name.c_str());
    }
}

// A pre-quantized bnb checkpoint (transformers' own NF4 + double quant of the same model) and
// our quantization of the dense model must give the same dequantized base.
void TestExport::mergedOnPrequantizedBase() {
    const LoraAdapter adapter = zero_b(read_peft_adapter(ref_lora("llama3-tiny")));
    const Model bnb = load_model(qls::test::ref_dir() / "bnb" / "llama3-tiny-nf4-dq");
    const Model dense = load_model(ref_model("llama3-tiny"));
    ScratchDir scratch;
    export_merged_model(bnb, adapter, scratch.path() / "a");
    MergedExportOptions o;
    o.base = MergeBase::trained(BaseWeightsOptions{});  // NF4, block size 64, double quant
    export_merged_model(dense, adapter, scratch.path() / "b", o);
    const json config = read_json(scratch.path() / "a" / "config.json");
    QVERIFY(!config.contains("quantization_config"));
    const SafetensorsFile a(scratch.path() / "a" / "model.safetensors"),
        b(scratch.path() / "b" / "model.safetensors");
    const SafetensorsFile dense_file(ref_model("llama3-tiny") / "model.safetensors");
    for (const std::string& name : a.names()) {
        QVERIFY2(same_bytes(a.tensor(name).data, b.tensor(name).data), name.c_str());
        // The linears really are the 4-bit base, not the original weights.
        const std::vector<float> x = to_f32(a.tensor(name)), w = to_f32(dense_file.tensor(name));
        double worst = 0;
        for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::fabs(x[i] - w[i])));
        const bool linear = name.find("_proj.") != std::string::npos;
        QVERIFY2(linear ? worst > 1e-3 : worst < 1e-2, name.c_str());
    }
}

namespace {

bool same_value(const GgufValue& a, const GgufValue& b) {
    if (a.type != b.type || a.data.index() != b.data.index()) return false;
    if (const auto* x = std::get_if<GgufArray>(&a.data)) {
        const GgufArray& y = std::get<GgufArray>(b.data);
        if (x->elem_type != y.elem_type || x->items.size() != y.items.size()) return false;
        for (std::size_t i = 0; i < x->items.size(); ++i)
            if (!same_value(x->items[i], y.items[i])) return false;
        return true;
    }
    if (const auto* x = std::get_if<double>(&a.data)) return std::get<double>(b.data) == *x;
    if (const auto* x = std::get_if<std::string>(&a.data)) return std::get<std::string>(b.data) == *x;
    if (const auto* x = std::get_if<bool>(&a.data)) return std::get<bool>(b.data) == *x;
    if (const auto* x = std::get_if<std::int64_t>(&a.data)) return std::get<std::int64_t>(b.data) == *x;
    return std::get<std::uint64_t>(a.data) == std::get<std::uint64_t>(b.data);
}

std::vector<float> spread_values(std::size_t n, unsigned seed) {
    std::vector<float> v(n);
    std::uint32_t x = seed * 2654435761u + 1;
    for (std::size_t i = 0; i < n; ++i) {
        x = x * 1664525u + 1013904223u;
        const float unit = float(x >> 8) / float(1 << 24) - 0.5f;
        v[i] = unit * std::ldexp(1.0f, int((i / 32) % 9) - 4);  // a different scale per block
    }
    return v;
}

}  // namespace

// Everything a writer can hold, read back by our reader; then types.gguf (written by gguf-py)
// re-written from what we read must come out byte for byte.
void TestExport::ggufWriterRoundTrip() {
    GgufWriter w(64);
    w.set("t.u8", {GgufValueType::U8, std::uint64_t(200)});
    w.set("t.i8", {GgufValueType::I8, std::int64_t(-100)});
    w.set("t.u16", {GgufValueType::U16, std::uint64_t(60000)});
    w.set("t.i16", {GgufValueType::I16, std::int64_t(-30000)});
    w.set_u32("t.u32", 4000000000u);
    w.set_i32("t.i32", -2000000000);
    w.set_u64("t.u64", 18000000000000000000ull);
    w.set("t.i64", {GgufValueType::I64, std::int64_t(-9000000000000000000)});
    w.set_f32("t.f32", 0.1f);
    w.set("t.f64", {GgufValueType::F64, 0.1});
    w.set_bool("t.bool", true);
    w.set_string("t.string", "h\xc3\xa9llo");
    w.set_string_array("t.strings", {"a", "", "d e"});
    const std::vector<std::int32_t> ints = {1, -2, 3};
    w.set_i32_array("t.i32s", ints);
    const std::vector<float> floats = {0.5f, -1.25f};
    w.set_f32_array("t.f32s", floats);
    GgufArray inner{GgufValueType::U32, {{GgufValueType::U32, std::uint64_t(7)}}};
    GgufArray nested{
        GgufValueType::Array,
        {{GgufValueType::Array, inner}, {GgufValueType::Array, GgufArray{GgufValueType::U32, {}}}}};
    w.set("t.nested", {GgufValueType::Array, nested});
    w.set_u32("t.u32", 5);  // replaced in place
    QLS_VERIFY_THROWS_WITH(w.set("t.bad", {GgufValueType::U32, std::int64_t(1)}), ConfigError, "t.bad");

    const std::vector<float> values = spread_values(128, 1);
    w.add_tensor("f32", GgmlType::F32, {4, 2, 16}, ggml_encode(GgmlType::F32, values, 4));
    w.add_tensor("f16", GgmlType::F16, {128}, ggml_encode(GgmlType::F16, values, 128));
    w.add_tensor("bf16", GgmlType::BF16, {32, 4}, ggml_encode(GgmlType::BF16, values, 32));
    w.add_tensor("q8_0", GgmlType::Q8_0, {64, 2}, ggml_encode(GgmlType::Q8_0, values, 64));
    QLS_VERIFY_THROWS_WITH(w.add_tensor("q8_0", GgmlType::F32, {1}, std::vector<std::byte>(4)), ConfigError,
                           "twice");
    QLS_VERIFY_THROWS_WITH(w.add_tensor("odd", GgmlType::Q8_0, {48}, std::vector<std::byte>(51)), ConfigError,
                           "not a multiple of Q8_0's block size 32");

    ScratchDir scratch;
    w.write(scratch.path() / "t.gguf");
    const GgufFile f(scratch.path() / "t.gguf");
    QCOMPARE(f.version(), 3u);
    QCOMPARE(f.alignment(), 64u);
    QCOMPARE(f.metadata().size(), w.metadata().size());
    QCOMPARE(f.metadata()[0].first, std::string("general.alignment"));
    for (std::size_t i = 0; i < w.metadata().size(); ++i) {
        QCOMPARE(f.metadata()[i].first, w.metadata()[i].first);
        QVERIFY2(same_value(f.metadata()[i].second, w.metadata()[i].second), w.metadata()[i].first.c_str());
    }
    QCOMPARE(*f.get_u32("t.u32"), 5u);
    QCOMPARE(*f.get_float("t.f32"), double(0.1f));
    QCOMPARE(*f.get_string("t.string"), std::string("h\xc3\xa9llo"));
    QCOMPARE(f.data_offset() % 64, 0u);
    for (const GgufTensorInfo& t : f.tensors()) QCOMPARE(t.offset % 64, 0u);
    QVERIFY(same_bytes(f.tensor("f32").data, std::as_bytes(std::span(values))));
    QCOMPARE(f.tensor("f32").ne, (std::vector<std::int64_t>{4, 2, 16}));
    const auto* f16 = reinterpret_cast<const std::uint16_t*>(f.tensor("f16").data.data());
    const auto* bf16 = reinterpret_cast<const std::uint16_t*>(f.tensor("bf16").data.data());
    for (std::size_t i = 0; i < values.size(); ++i) {
        const qfloat16 h(values[i]);
        std::uint16_t bits;
        std::memcpy(&bits, &h, 2);
        QCOMPARE(f16[i], bits);
        std::uint32_t u;
        std::memcpy(&u, &values[i], 4);
        QCOMPARE(bf16[i], std::uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16));
    }
    const std::vector<std::uint8_t> q8 = reference_q8_0(values);
    QVERIFY(same_bytes(f.tensor("q8_0").data, std::as_bytes(std::span(q8))));
    QCOMPARE(GgufFile(w.serialize(), "memory").tensors().size(), 4u);

    const GgufFile types(gguf_fixture("types.gguf"));
    GgufWriter again;
    for (const auto& [key, value] : types.metadata()) again.set(key, value);
    for (const GgufTensorInfo& t : types.tensors())
        again.add_tensor(t.name, t.type, t.ne, std::vector<std::byte>(t.data.begin(), t.data.end()));
    const std::vector<std::byte> bytes = again.serialize();
    QVERIFY(same_bytes(bytes, types.bytes()));
}

void TestExport::q8_0MatchesReference() {
    std::vector<float> v = spread_values(32 * 40, 7);
    std::fill(v.begin(), v.begin() + 32, 0.0f);                         // an all-zero block
    // amax 127 makes d = 1, so x.5 values are exact ties, which roundf takes away from zero.
    v[32] = 127.0f;
    for (std::size_t j = 1; j < 32; ++j) v[32 + j] = float(j) - 16.5f;
    v[64] = -1e30f;
    const std::vector<std::byte> got = ggml_encode(GgmlType::Q8_0, v, 64);
    const std::vector<std::uint8_t> want = reference_q8_0(v);
    QVERIFY(same_bytes(got, std::as_bytes(std::span(want))));
    QLS_VERIFY_THROWS_WITH(ggml_encode(GgmlType::Q8_0, std::span(v).first(40 * 3), 40), ConfigError,
                           "multiple of 32");
    QLS_VERIFY_THROWS_WITH(ggml_encode(GgmlType::Q4_K, v, 64), ConfigError, "Q4_K");
}

void TestExport::ggufMatchesConverterLayout_data() {
    QTest::addColumn<QString>("name");
    QTest::newRow("llama3") << "llama3-tiny";
    QTest::newRow("qwen2") << "qwen2-tiny";
}

// The fixture GGUFs (gguf-py, laid out as convert_hf_to_gguf.py does) mix tensor types; every
// tensor must come out byte-identical from the export whose type it has.
void TestExport::ggufMatchesConverterLayout() {
    QFETCH(QString, name);
    const std::string model_name = name.toStdString();
    const GgufFile ref(gguf_fixture((model_name + ".gguf").c_str()));
    const Model model = load_model(ref_model(model_name.c_str()));
    ScratchDir scratch;
    std::set<std::string> compared;
    for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0}) {
        GgufExportOptions o;
        o.type = type;
        const fs::path path = scratch.path() / (model_name + ".gguf");
        export_gguf_model(model, nullptr, path, o);
        const GgufFile mine(path);
        QCOMPARE(mine.tensors().size(), ref.tensors().size());
        for (const GgufTensorInfo& t : ref.tensors()) {
            const GgufTensorInfo& m = mine.tensor(t.name);
            QCOMPARE(m.ne, t.ne);
            if (m.type != t.type) continue;
            QVERIFY2(same_bytes(m.data, t.data), t.name.c_str());
            compared.insert(t.name);
        }
        if (type != GgmlType::Q8_0) continue;
        for (const auto& [key, value] : ref.metadata()) {
            // The fixture says "gpt2" as tokenizer.json does; transformers (and we) use Qwen2's regex.
            if (key == "tokenizer.ggml.pre" && model_name == "qwen2-tiny") continue;
            const GgufValue* v = mine.find(key);
            QVERIFY2(v && same_value(*v, value), key.c_str());
        }
    }
    QCOMPARE(compared.size(), ref.tensors().size());
}

// Merged GGUF back through our GGUF loader (which undoes the Q/K permutation) equals the merged
// safetensors export, value for value in bf16.
void TestExport::mergedGgufReloads() {
    const Model model = load_model(ref_model("llama3-tiny"));
    const LoraAdapter adapter = read_peft_adapter(ref_lora("llama3-tiny"));
    ScratchDir scratch;
    export_merged_model(model, adapter, scratch.path() / "merged");
    GgufExportOptions o;
    o.type = GgmlType::BF16;
    o.name = "merged";
    export_gguf_model(model, &adapter, scratch.path() / "merged.gguf", o);
    const Model back = load_model(scratch.path() / "merged.gguf");
    QCOMPARE(back.name, std::string("merged"));
    const LlamaConfig &a = back.config, &b = model.config;
    QCOMPARE(a.hidden_size, b.hidden_size);
    QCOMPARE(a.num_kv_heads, b.num_kv_heads);
    QCOMPARE(a.head_dim, b.head_dim);
    QCOMPARE(a.rms_norm_eps, b.rms_norm_eps);
    QCOMPARE(a.rope_theta, b.rope_theta);
    QCOMPARE(int(a.rope_scaling.type), int(RopeType::Llama3));
    QCOMPARE(a.tie_word_embeddings, true);
    QCOMPARE(a.eos_token_ids, b.eos_token_ids);
    const SafetensorsFile merged(scratch.path() / "merged" / "model.safetensors");
    QCOMPARE(back.weights.tensors.size(), merged.names().size());
    for (const std::string& n : merged.names()) {
        const std::vector<float> want = to_f32(merged.tensor(n));
        const std::vector<float> got = to_f32(dense_values(back.weights.get(n)).view);
        if (n.find("norm") != std::string::npos) continue;  // F32 in GGUF, bf16 in safetensors
        QVERIFY2(got == want, n.c_str());
    }
    QVERIFY(fs::exists(scratch.path() / "merged.Modelfile"));
    // The tokenizer inside the exported file encodes like tokenizer.json.
    const Tokenizer from_gguf = load_model_tokenizer(back);
    const Tokenizer from_json = load_tokenizer(ref_model("llama3-tiny"));
    const std::string chat = read_json(ref_model("llama3-tiny") / "chat.json")["rendered_gen1"];
    QCOMPARE(from_gguf.encode(chat, true), from_json.encode(chat, true));
    const json hf_ids = read_json(ref_model("llama3-tiny") / "chat.json")["ids_gen1"];  // transformers' ids
    QCOMPARE(from_gguf.encode(chat, false), hf_ids.get<std::vector<int>>());
    QCOMPARE(from_gguf.chat_template(), from_json.chat_template());
}

void TestExport::ggufTokenizerEncodesLikeJson_data() {
    QTest::addColumn<QString>("folder");
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("pre");  // names llama.cpp's llama-vocab.cpp accepts
    QTest::newRow("llama3-tiny") << QString::fromStdString(ref_model("llama3-tiny").string()) << "gpt2"
                                 << "llama-bpe";
    QTest::newRow("qwen2-tiny") << QString::fromStdString(ref_model("qwen2-tiny").string()) << "gpt2" << "qwen2";
    QTest::newRow("mistral-tiny") << QString::fromStdString(ref_model("mistral-tiny").string()) << "llama"
                                  << "default";
    QTest::newRow("demo") << QString::fromStdString(
                                 (qls::test::source_dir() / "resources/demo/model").string())
                          << "gpt2" << "gpt-2";
}

void TestExport::ggufTokenizerEncodesLikeJson() {
    QFETCH(QString, folder);
    QFETCH(QString, model);
    QFETCH(QString, pre);
    const fs::path dir = folder.toStdString();
    const json config = read_json(dir / "config.json");
    GgufWriter w;
    add_gguf_tokenizer(w, gguf_tokenizer_from_hf(dir, config["vocab_size"].get<std::int64_t>()));
    const GgufFile f(w.serialize(), "tokenizer");
    const GgufTokenizerData data = read_gguf_tokenizer(f);
    QCOMPARE(QString::fromStdString(data.model), model);
    QCOMPARE(QString::fromStdString(data.pre), pre);
    const Tokenizer gguf = tokenizer_from_gguf(data);
    const Tokenizer hf = load_tokenizer(dir);
    QCOMPARE(gguf.bos_id(), hf.bos_id());
    QCOMPARE(gguf.eos_id(), hf.eos_id());
    QCOMPARE(gguf.chat_template(), hf.chat_template());
    std::vector<std::string> texts;
    for (const char* tok : {"llama3-bpe", "gpt2-bpe", "sp-bpe"}) {
        const json expected = read_json(qls::test::ref_dir() / "tokenizers" / tok / "expected.json");
        for (const json& c : expected["cases"]) texts.push_back(c["text"].get<std::string>());
    }
    if (fs::exists(dir / "chat.json"))
        texts.push_back(read_json(dir / "chat.json")["rendered_gen1"].get<std::string>());
    QVERIFY(texts.size() > 10);
    for (const std::string& text : texts) {
        QCOMPARE(gguf.encode(text, false), hf.encode(text, false));
        QCOMPARE(gguf.encode(text, true), hf.encode(text, true));
    }
}

void TestExport::ggufLoraAdapter() {
    for (const char* name : {"llama3-tiny", "qwen2-tiny-rslora"}) {
        const bool llama = std::string(name) == "llama3-tiny";
        const LoraAdapter adapter = read_peft_adapter(ref_lora(name));
        const Model base = load_model(ref_model(llama ? "llama3-tiny" : "qwen2-tiny"));
        ScratchDir scratch;
        export_gguf_lora(adapter, base.config, scratch.path() / "lora.gguf");
        const GgufFile f(scratch.path() / "lora.gguf");
        QCOMPARE(f.require_string("general.type"), std::string("adapter"));
        QCOMPARE(f.require_string("general.architecture"), std::string(llama ? "llama" : "qwen2"));
        QCOMPARE(f.require_string("adapter.type"), std::string("lora"));
        QCOMPARE(f.require_float("adapter.lora.alpha"), llama ? 8.0 : 16.0);  // rsLoRA: 8 * sqrt(4)
        QCOMPARE(f.tensors().size(), adapter.modules.size() * 2);
        const SafetensorsFile peft(ref_lora(name) / "adapter_model.safetensors");
        const std::int64_t hd = base.config.head_dim;
        for (const auto& [module, p] : adapter.modules) {
            const std::string gguf = hf_to_gguf_tensor_name(module + ".weight");
            const GgufTensorInfo& a = f.tensor(gguf + ".lora_a");
            const GgufTensorInfo& b = f.tensor(gguf + ".lora_b");
            QCOMPARE(a.ne, (std::vector<std::int64_t>{p.in, 4}));
            QCOMPARE(b.ne, (std::vector<std::int64_t>{4, p.out}));
            QCOMPARE(a.type, GgmlType::F32);
            QVERIFY(same_bytes(a.data, peft.tensor("base_model.model." + module + ".lora_A.weight").data));
            const std::vector<float> want =
                to_f32(peft.tensor("base_model.model." + module + ".lora_B.weight"));
            const auto* got = reinterpret_cast<const float*>(b.data.data());
            const bool permuted = llama && (module.ends_with("q_proj") || module.ends_with("k_proj"));
            for (std::int64_t row = 0; row < p.out; ++row)
                for (std::int64_t k = 0; k < 4; ++k)
                    QCOMPARE(got[row * 4 + k],
                             want[std::size_t((permuted ? permuted_source_row(row, hd) : row) * 4 + k)]);
        }
        QCOMPARE(f.tensor("blk.0.attn_k.weight.lora_b").ne, (std::vector<std::int64_t>{4, 2 * hd}));
    }
    GgufLoraOptions o;
    o.type = GgmlType::F16;
    ScratchDir scratch;
    const Model base = load_model(ref_model("llama3-tiny"));
    export_gguf_lora(read_peft_adapter(ref_lora("llama3-tiny")), base.config, scratch.path() / "f16.gguf", o);
    QCOMPARE(GgufFile(scratch.path() / "f16.gguf").tensor("blk.2.ffn_down.weight.lora_a").type,
             GgmlType::F16);
    LlamaConfig smaller = base.config;
    smaller.hidden_size = 64;
    QLS_VERIFY_THROWS_WITH(
        export_gguf_lora(read_peft_adapter(ref_lora("llama3-tiny")), smaller, scratch.path() / "x.gguf"),
        ConfigError, "model.layers.0.self_attn.q_proj");
}

void TestExport::ollamaModelfile() {
    const auto family_of = [](const char* file) {
        return chat_family(read_text_file(qls::test::fixture_dir() / "chat_templates" / file));
    };
    QCOMPARE(family_of("qwen2.5-7b-instruct.jinja"), ChatFamily::ChatMl);
    QCOMPARE(family_of("llama-3.1-8b-instruct.jinja"), ChatFamily::Llama3);
    QCOMPARE(family_of("mistral-7b-instruct-v0.3.jinja"), ChatFamily::Mistral);
    QCOMPARE(family_of("zephyr-7b-beta.jinja"), ChatFamily::Zephyr);
    QCOMPARE(family_of("gemma-2-2b-it.jinja"), ChatFamily::None);

    const GgufTokenizerData llama = gguf_tokenizer_from_hf(ref_model("llama3-tiny"), 1024);
    const std::string text = ollama_modelfile("model.gguf", llama);
    QVERIFY(text.find("\nFROM ./model.gguf\n") != std::string::npos);
    QVERIFY(text.find("TEMPLATE \"\"\"{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>") !=
            std::string::npos);
    QVERIFY(text.find(".System") == std::string::npos);  // system messages come by role from .Messages
    QVERIFY(text.find("{{ .Content }}<|eot_id|>") != std::string::npos);
    QVERIFY(text.find("PARAMETER stop \"<|eot_id|>\"\n") != std::string::npos);
    const GgufTokenizerData qwen = gguf_tokenizer_from_hf(ref_model("qwen2-tiny"), 900);
    QVERIFY(ollama_modelfile("q.gguf", qwen).find("PARAMETER stop \"<|im_end|>\"\n") != std::string::npos);
    const GgufTokenizerData mistral = gguf_tokenizer_from_hf(ref_model("mistral-tiny"), 1100);
    const std::string m = ollama_modelfile("m.gguf", mistral);
    QVERIFY(m.find("[INST] ") != std::string::npos);
    QVERIFY(m.find("PARAMETER stop \"</s>\"\n") != std::string::npos);
}

QTEST_GUILESS_MAIN(TestExport)
#include "test_export.moc"
