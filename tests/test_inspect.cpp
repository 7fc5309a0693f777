// The inspector's figures: weight memory per scheme checked against the bytes bitsandbytes
// actually wrote, bits per parameter against hand-computed layouts, the per-tensor error
// table, the storage types a file names, template families, the JSON report and the message
// for a folder that is no model.
#include <QtTest>

#include <cmath>
#include <fstream>
#include <span>

#include <nlohmann/json.hpp>

#include "core/export/gguf_writer.h"
#include "core/inspect/model_report.h"
#include "core/io/safetensors_reader.h"
#include "core/model/llama_tensors.h"
#include "core/quant/quant_error.h"
#include "core/quant/quant_storage.h"
#include "core/quant/quantize_4bit.h"
#include "core/util/half.h"
#include "tests/test_support.h"

using namespace qls;

namespace {

// Bytes of the tensors transformers wrote for the 4-bit linear weights, without the
// quant_state JSON (its length depends on number formatting, not on the layout).
std::uint64_t stored_linear_bytes(const std::filesystem::path& checkpoint, const LlamaConfig& c) {
    SafetensorsFile f(checkpoint / "model.safetensors");
    std::uint64_t bytes = 0;
    for (const auto& e : llama_expected_tensors(c)) {
        if (!e.linear) continue;
        for (const char* suffix : {"", ".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map"})
            if (const TensorView* t = f.find(e.name + suffix)) bytes += t->data.size();
    }
    return bytes;
}

// Q4_1 blocks (formats.md §9.2: d f16, m f16, then 16 bytes of nibbles) for n weights. Any
// valid values do: what matters is the type the file names.
std::vector<std::byte> q4_1_blocks(std::int64_t n) {
    std::vector<std::byte> out;
    for (std::int64_t b = 0; b < n / 32; ++b) {
        for (std::uint16_t h : {f32_to_f16(0.01f), f32_to_f16(-0.08f)}) {
            out.push_back(std::byte(h & 0xFF));
            out.push_back(std::byte(h >> 8));
        }
        for (std::int64_t i = 0; i < 16; ++i) out.push_back(std::byte((b * 16 + i) * 37 & 0xFF));
    }
    return out;
}

// The llama3-tiny GGUF fixture with every layer's 2-D weight rewritten as Q4_1; the
// embedding and the norms keep their types.
void write_q4_1_gguf(const std::filesystem::path& path) {
    const GgufFile src(test::fixture_dir() / "gguf" / "llama3-tiny.gguf");
    GgufWriter w;
    for (const auto& [key, value] : src.metadata()) w.set(key, value);
    for (const GgufTensorInfo& t : src.tensors()) {
        if (t.ne.size() == 2 && t.name.starts_with("blk."))
            w.add_tensor(t.name, GgmlType::Q4_1, t.ne, q4_1_blocks(t.numel()));
        else
            w.add_tensor(t.name, t.type, t.ne, std::vector<std::byte>(t.data.begin(), t.data.end()));
    }
    w.write(path);
}

std::vector<float> ramp(std::int64_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(int(i % 97) - 48) / 48.0f;
    return v;
}

}  // namespace

class TestInspect : public QObject {
    Q_OBJECT
private slots:
    void memoryMatchesBitsandbytesCheckpoints() {
        struct Case {
            const char* dir;
            WeightScheme scheme;
        };
        for (const Case& c : {Case{"llama3-tiny-nf4-dq", WeightScheme::Nf4DoubleQuant},
                              Case{"llama3-tiny-fp4", WeightScheme::Fp4}}) {
            const auto dir = test::ref_dir() / "bnb" / c.dir;
            const Model m = load_model(dir);
            const WeightMemory mem = weight_memory(m.config, c.scheme);
            QCOMPARE(mem.linear_bytes, stored_linear_bytes(dir, m.config));
            QCOMPARE(mem.other_params + mem.linear_params, parameter_count(m.config));
        }
    }
    void memorySchemesOrdered() {
        const Model m = load_model(test::ref_dir() / "models" / "llama3-tiny");
        const auto all = weight_memory_all(m.config);
        QCOMPARE(all.size(), std::size_t(4));
        QCOMPARE(all[0].linear_bytes, std::uint64_t(all[0].linear_params) * 2);
        QVERIFY(all[1].linear_bytes < all[0].linear_bytes / 3);
        QCOMPARE(all[1].linear_bytes, all[3].linear_bytes);  // NF4 and FP4 store the same layout
        QVERIFY(all[2].linear_bytes != all[1].linear_bytes);
    }
    void errorTableCoversEveryLinearWeight() {
        const Model m = load_model(test::ref_dir() / "models" / "qwen2-tiny");
        std::size_t calls = 0;
        const QuantErrorTable t = quant_error_table(m, 64, [&](std::size_t, std::size_t) { return ++calls > 0; });
        QCOMPARE(t.rows.size(), std::size_t(7 * m.config.num_layers));
        QCOMPARE(calls, t.rows.size() + 1);
        for (const auto& r : t.rows) {
            QVERIFY(r.layer >= 0 && !r.module.empty());
            QVERIFY(r.nf4.mse > 0 && std::isfinite(r.nf4.snr_db));
            QVERIFY(r.nf4.mse < r.fp4.mse);  // normal-ish weights: NF4 wins, as in the paper
            QCOMPARE(r.nf4.bits_per_param, quant_bits_per_param(numel(r.shape), 64, false));
            QCOMPARE(r.nf4_dq.bits_per_param, quant_bits_per_param(numel(r.shape), 64, true));
        }
        QVERIFY(t.total_nf4.snr_db > t.total_fp4.snr_db);
        QVERIFY(t.verdict.find("NF4 has lower error than FP4 on 14 of 14") != std::string::npos);
    }
    // Hand-computed from the layout (formats.md §1.2, §2): 4-bit codes, then an fp32 absmax per
    // 64-block, or a u8 code per block plus an fp32 per 256 blocks. Exact binary fractions or
    // the same double expression, so QCOMPARE's fuzzy compare has nothing to forgive.
    void bitsPerParamHandComputed() {
        const std::int64_t big = 4096 * 4096;  // 262144 blocks, 1024 nested groups: no padding
        QCOMPARE(quant_bits_per_param(big, 64, false), 4.0 + 32.0 / 64);
        QCOMPARE(quant_bits_per_param(big, 64, true), 4.0 + 8.0 / 64 + 32.0 / (64 * 256));
        QCOMPARE(QString::number(quant_bits_per_param(big, 64, true), 'f', 3), QString("4.127"));

        // 3 x 11111 = 33333 weights: the last byte holds one code, the last block 53 weights
        // (521 blocks), the last nested group 9 blocks (3 groups); each padding is paid whole.
        const std::int64_t odd = 3 * 11111;
        QCOMPARE(quant_bits_per_param(odd, 64, false), 8.0 * (16667 + 521 * 4) / 33333);
        QCOMPARE(quant_bits_per_param(odd, 64, true), 8.0 * (16667 + 521 + 3 * 4) / 33333);
        const QuantStorage s = quant_storage(odd, 64, true);
        QCOMPARE(s.table_bytes, std::uint64_t(16 * 4 + 256 * 4));  // counted in bytes, not in bits

        // The quantizer stores exactly those arrays, and the statistics report the same figure.
        const std::vector<float> values = ramp(odd);
        const TensorView view{DType::F32, {3, 11111}, std::as_bytes(std::span(values))};
        const Quantized4bit q = quantize_4bit(view, QuantType::NF4, 64, true);
        QCOMPARE(q.packed.size(), std::size_t(16667));
        QCOMPARE(q.nested->codes.size(), std::size_t(521));
        QCOMPARE(q.nested->absmax.size(), std::size_t(3));
        QCOMPARE(bits_per_param(q), quant_bits_per_param(odd, 64, true));
    }
    // One figure: the table's totals and the Model page's memory rows agree for every scheme.
    void bitsPerParamOneFigure() {
        const Model m = load_model(test::ref_dir() / "models" / "qwen2-tiny");
        const QuantErrorTable t = quant_error_table(m, 64);
        const auto memory = weight_memory_all(m.config, 64);
        // The totals weight each row's bits by its numel in double and divide again: a few
        // ulps of rounding over 14 rows, far inside 1e-12 relative.
        auto same = [](double a, double b) { return std::fabs(a - b) <= 1e-12 * b; };
        QVERIFY(same(t.total_nf4.bits_per_param, memory[1].linear_bits_per_param()));
        QVERIFY(same(t.total_nf4_dq.bits_per_param, memory[2].linear_bits_per_param()));
        QVERIFY(same(t.total_fp4.bits_per_param, memory[3].linear_bits_per_param()));
        QCOMPARE(memory[0].linear_bits_per_param(), 16.0);
    }
    void ggufStorageNamesItsTypes() {
        test::ScratchDir dir;
        const auto path = dir.path() / "q4_1.gguf";
        write_q4_1_gguf(path);
        const Model m = load_model(path);
        const ModelReport r = inspect_model(m, {.error_table = false});
        QVERIFY(!r.storage.empty());
        QCOMPARE(r.storage.front().name, std::string("Q4_1"));  // 3/4 of llama3-tiny's weights are linear
        QCOMPARE(r.storage.front().tensors, std::int64_t(7 * m.config.num_layers));
        QCOMPARE(r.storage.front().params, weight_memory(m.config, WeightScheme::Bf16).linear_params);
        const std::string text = stored_types_text(r.storage);
        QVERIFY2(text.starts_with("Q4_1 (") && text.find("F32") != std::string::npos, text.c_str());
        QVERIFY2(text.find("float32") == std::string::npos, text.c_str());
        QCOMPARE(to_json(r)["storage"][0]["type"].get<std::string>(), std::string("Q4_1"));

        // A safetensors model names its one dtype, read from the tensors.
        const Model hf = load_model(test::ref_dir() / "models" / "llama3-tiny");
        QCOMPARE(stored_types_text(stored_types(hf.weights)), std::string("F32"));
    }
    void folderWithoutConfigIsNamed() {
        test::ScratchDir dir;
        std::ofstream(dir.path() / "notes.txt") << "not a model";
        const std::string want = "'" + dir.path().string() + "' is not a model folder: it has no config.json "
                                 "(expected a Hugging Face model folder, a bitsandbytes 4-bit checkpoint or a .gguf file)";
        try {
            load_model(dir.path());
            QFAIL("a folder without config.json loaded");
        } catch (const FormatError& e) {
            QCOMPARE(std::string(e.what()), want);
        }
        std::ofstream(dir.path() / "model-q4.gguf") << "GGUF";
        try {
            load_model(dir.path());
            QFAIL("a folder without config.json loaded");
        } catch (const FormatError& e) {
            QCOMPARE(std::string(e.what()), want + "; it holds model-q4.gguf: open that file instead");
        }
    }
    void errorTableCancels() {
        const Model m = load_model(test::ref_dir() / "models" / "qwen2-tiny");
        QVERIFY_THROWS_EXCEPTION(Cancelled, quant_error_table(m, 64, [](std::size_t done, std::size_t) {
                                     return done < 3;
                                 }));
    }
    void prequantizedModelExplainsEmptyTable() {
        const Model m = load_model(test::ref_dir() / "bnb" / "llama3-tiny-nf4-dq");
        const ModelReport r = inspect_model(m);
        QVERIFY(r.errors && r.errors->rows.empty());
        QVERIFY(r.errors->note.find("pre-quantized") != std::string::npos);
        QCOMPARE(r.format, std::string("bitsandbytes 4-bit"));
    }
    void templateFamilies() {
        const std::pair<const char*, const char*> cases[] = {
            {"llama3-tiny", "Llama-3"}, {"qwen2-tiny", "ChatML"}, {"mistral-tiny", "Llama-2/Mistral"}};
        for (const auto& [dir, family] : cases) {
            const ModelReport r = inspect_model(load_model(test::ref_dir() / "models" / dir), {.error_table = false});
            QVERIFY2(r.tokenizer.has_value(), r.tokenizer_error.c_str());
            QCOMPARE(r.tokenizer->chat_template_family, std::string(family));
        }
        QCOMPARE(chat_template_family(""), std::string("none"));
        QCOMPARE(chat_template_family("{{ messages }}"), std::string("custom"));
    }
    void jsonReport() {
        const ModelReport r = inspect_model(load_model(test::ref_dir() / "models" / "llama3-tiny"));
        const nlohmann::json j = to_json(r);
        QCOMPARE(j["config"]["num_kv_heads"].get<int>(), 2);
        QCOMPARE(j["config"]["rope_scaling"]["type"].get<std::string>(), std::string("llama3"));
        QCOMPARE(j["parameters"].get<std::int64_t>(), parameter_count(r.config));
        QCOMPARE(j["memory"].size(), std::size_t(4));
        QCOMPARE(j["quant_errors"]["tensors"].size(), std::size_t(21));
        QCOMPARE(j["tokenizer"]["bos"].get<std::string>(), std::string("<|begin_of_text|>"));
    }
    void badBlocksizeRefused() {
        const Model m = load_model(test::ref_dir() / "models" / "llama3-tiny");
        QVERIFY_THROWS_EXCEPTION(ConfigError, inspect_model(m, {.error_table = true, .blocksize = 48}));
    }
};

QTEST_GUILESS_MAIN(TestInspect)
#include "test_inspect.moc"
