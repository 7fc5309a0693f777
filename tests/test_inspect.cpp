// The inspector's figures: weight memory per scheme checked against the bytes bitsandbytes
// actually wrote, the per-tensor error table, template families and the JSON report.
#include <QtTest>

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/inspect/model_report.h"
#include "core/io/safetensors_reader.h"
#include "core/model/llama_tensors.h"
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
            QCOMPARE(r.nf4.bits_per_param, 4.5);
            QVERIFY(r.nf4_dq.bits_per_param < 4.2);
        }
        QVERIFY(t.total_nf4.snr_db > t.total_fp4.snr_db);
        QVERIFY(t.verdict.find("NF4 has lower error than FP4 on 14 of 14") != std::string::npos);
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
