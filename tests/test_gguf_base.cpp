// QLoRA on a GGUF base in its own quantization (BaseWeightsOptions::gguf_blocks): the frozen base
// keeps the file's blocks, decodes them per use to exactly the values the loader reads, so
// training, the memory estimate, the labels and the merged export all see the file's weights
// rather than a second (NF4) rounding of them.
#include <QtTest>

#include <nlohmann/json.hpp>

#include "core/export/gguf_model_export.h"
#include "core/export/merged_weights.h"
#include "core/inspect/quant_error_table.h"
#include "core/io/ggml_dequant.h"
#include "core/io/gguf_reader.h"
#include "core/model/gguf_model_loader.h"
#include "core/model/llama_model.h"
#include "core/model/model_layout.h"
#include "core/train/memory_estimate.h"
#include "core/train/train_config.h"
#include "model_test_support.h"
#include "test_support.h"

using namespace qls;
using qls::test::Loaded;
using qls::test::ref_dir;

namespace {

constexpr const char* kLinears[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

BaseWeightsOptions options(std::optional<QuantType> quant, bool gguf_blocks) {
    BaseWeightsOptions o;
    o.quant = quant;
    o.gguf_blocks = gguf_blocks;
    return o;
}

// ref/models/llama3-tiny written by our exporter with every 2-D weight in Q8_0, so q/k carry
// llama.cpp's row permutation in quantized form.
std::filesystem::path q8_model(const qls::test::ScratchDir& scratch) {
    const Model hf = load_model(ref_dir() / "models" / "llama3-tiny");
    GgufExportOptions o;
    o.type = GgmlType::Q8_0;
    o.write_modelfile = false;
    const auto path = scratch.path() / "llama3-tiny-q8_0.gguf";
    export_gguf_model(hf, nullptr, path, o);
    return path;
}

// LoRA with B != 0, so both A and B gradients depend on the base weights.
void give_b_values(Backend& backend, LoraParameters& lora) {
    for (const auto& p : lora.params())
        if (p.name.ends_with("lora_B")) {
            std::vector<float> v(static_cast<std::size_t>(p.value.numel()));
            for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.01f * std::sin(float(i));
            backend.copy_from_host(p.value, std::as_bytes(std::span(v)));
        }
}

struct StepResult {
    std::vector<float> logits;
    double loss = 0;
    std::vector<std::vector<float>> grads;
};

StepResult run_step(const std::filesystem::path& model, const BaseWeightsOptions& opt, const Batch& batch) {
    Loaded m(model, opt);
    LoraConfig cfg;
    cfg.rank = 4;
    cfg.dropout = 0.0;
    LoraParameters lora(m.backend, m.model.config, cfg);
    give_b_values(m.backend, lora);
    LlamaModel llama(m.backend, *m.base, &lora, {batch.batch, batch.seq_len, true, 0});
    StepResult r;
    r.logits = llama.logits(batch);
    llama.reset_loss();
    llama.forward_backward(batch, 0.01f, 7);
    r.loss = llama.read_loss().mean();
    for (const auto& p : lora.params()) r.grads.push_back(qls::test::download(m.backend, p.grad));
    return r;
}

}  // namespace

class TestGgufBase : public QObject {
    Q_OBJECT
private slots:
    void blocksStayAsTheFileStoresThem();
    void layersKeepTheFileBlocks();
    void stepEqualsTheDenseBaseOfTheSameValues();
    void estimateEqualsWhatIsUploaded();
    void mergeOntoTheBlocksValues();
    void labelsNameTheKeptTypes();
    void inspectorShowsTheStoredBlocks();
    void runJsonRecordsTheChoice();
};

// The loader keeps the file's blocks as they are: a view of the mapping (no fp32 values, no
// copy) for every tensor but llama's q and k, whose rows it reorders in a copy; the blocks
// decode on request to values of the right shape. What it copies is those q and k blocks alone.
void TestGgufBase::blocksStayAsTheFileStoresThem() {
    qls::test::ScratchDir scratch;
    const std::filesystem::path path = q8_model(scratch);
    const GgufModel m = load_gguf_model(path);
    const GgufFile file(path);
    int kept = 0;
    std::size_t copied = 0, qk = 0;
    for (const auto& [name, w] : m.weights.tensors) {
        if (w.owned) copied += w.owned->size();
        if (!w.gguf_blocks) {
            QVERIFY2(w.shape.size() == 1, name.c_str());  // only the norms are F32 in this file
            QVERIFY(!w.view.data.empty() && w.gguf_data.empty());
            continue;
        }
        QCOMPARE(*w.gguf_type, GgmlType::Q8_0);
        QVERIFY2(w.view.data.empty(), name.c_str());
        QCOMPARE(w.view.dtype, DType::F32);
        const bool reordered =
            name.find("q_proj") != std::string::npos || name.find("k_proj") != std::string::npos;
        if (reordered) qk += w.gguf_data.size();
        QCOMPARE(bool(w.owned), reordered);
        const GgufTensorInfo* stored = nullptr;
        for (const GgufTensorInfo& t : file.tensors())
            if (gguf_to_hf_tensor_name(t.name) == name) stored = &t;
        QVERIFY2(stored && stored->data.size() == w.gguf_data.size(), name.c_str());
        QCOMPARE(std::memcmp(stored->data.data(), w.gguf_data.data(), w.gguf_data.size()) == 0, !reordered);
        const DenseValues values = dense_values(w);
        QCOMPARE(values.view.data.size(), static_cast<std::size_t>(numel(w.shape)) * sizeof(float));
        ++kept;
    }
    QCOMPARE(copied, qk);
    QCOMPARE(kept, int(m.config.num_layers) * 7 + 1);  // every linear of every layer, and the (tied) embedding
}

// The committed llama.cpp-converted fixture mixes types: q/k F32, v F16, o BF16, MLP Q8_0. Only
// the block-quantized MLP stays in blocks; the 16/32-bit linears follow base.quant.
void TestGgufBase::layersKeepTheFileBlocks() {
    Loaded m(qls::test::fixture_dir() / "gguf" / "llama3-tiny.gguf", options(QuantType::NF4, true));
    for (const DeviceLayer& l : m.base->layers()) {
        for (const LinearWeight* w : {&l.gate, &l.up, &l.down}) {
            QVERIFY(w->ggml.has_value() && !w->quant.has_value());
            QCOMPARE(w->ggml->type, GgmlType::Q8_0);
        }
        for (const LinearWeight* w : {&l.q, &l.k, &l.v, &l.o}) QVERIFY(w->quant.has_value() && !w->ggml.has_value());
    }
    Loaded requantized(qls::test::fixture_dir() / "gguf" / "llama3-tiny.gguf", options(QuantType::NF4, false));
    for (const DeviceLayer& l : requantized.base->layers())
        for (const LinearWeight* w : {&l.gate, &l.up, &l.down}) QVERIFY(w->quant.has_value() && !w->ggml.has_value());
}

// Blocks decoded per use give the same fp32 weights as the dense base built from the loader's
// values, and the CPU backend multiplies them with the same GEMM: logits, loss and every LoRA
// gradient are identical, not merely close. NF4 on the same file (the old re-quantization) must
// differ, or the comparison would prove nothing.
void TestGgufBase::stepEqualsTheDenseBaseOfTheSameValues() {
    qls::test::ScratchDir scratch;
    const auto path = q8_model(scratch);
    SafetensorsFile expected(ref_dir() / "models" / "llama3-tiny" / "expected.safetensors");
    const Batch batch = test::batch_from_ids(expected.tensor("input_ids"));
    const StepResult dense = run_step(path, options(std::nullopt, false), batch);
    const StepResult blocks = run_step(path, options(QuantType::NF4, true), batch);
    QCOMPARE(blocks.logits, dense.logits);
    QCOMPARE(blocks.loss, dense.loss);
    QCOMPARE(blocks.grads, dense.grads);
    const StepResult nf4 = run_step(path, options(QuantType::NF4, false), batch);
    QVERIFY(nf4.loss != dense.loss);
}

// The memory estimate counts the kept blocks at the type's bytes per block, the way
// DeviceBaseModel uploads them: estimate and accountant agree to the byte.
void TestGgufBase::estimateEqualsWhatIsUploaded() {
    const auto path = qls::test::fixture_dir() / "gguf" / "llama3-tiny.gguf";
    for (const bool keep : {true, false}) {
        Loaded m(path, options(QuantType::NF4, keep));
        EstimateOptions o;
        o.base = options(QuantType::NF4, keep);
        const MemoryEstimate e = estimate_memory(m.model, o, m.backend);
        QCOMPARE(e.of(Usage::BaseWeights), m.backend.memory().snapshot().current_of(Usage::BaseWeights));
    }
}

// Merging onto "the weights the adapter was trained against": the kept blocks' values (no NF4
// rounding); the same run re-quantizing would merge onto NF4.
void TestGgufBase::mergeOntoTheBlocksValues() {
    const Model m = load_model(qls::test::fixture_dir() / "gguf" / "llama3-tiny.gguf");
    const std::string down = "model.layers.1.mlp.down_proj.weight", q = "model.layers.1.self_attn.q_proj.weight";
    const MergeBase kept = MergeBase::trained(options(QuantType::NF4, true));
    const MergeBase requantized = MergeBase::trained(options(QuantType::NF4, false));
    QCOMPARE(merged_tensor(m, nullptr, down, kept), merged_tensor(m, nullptr, down, MergeBase::original()));
    QVERIFY(merged_tensor(m, nullptr, down, requantized) != merged_tensor(m, nullptr, down, MergeBase::original()));
    // q_proj is F32 in the file: the run quantized it to NF4, so the merge rounds it too.
    QCOMPARE(merged_tensor(m, nullptr, q, kept), merged_tensor(m, nullptr, q, requantized));
    QVERIFY(merged_tensor(m, nullptr, q, kept) != merged_tensor(m, nullptr, q, MergeBase::original()));
}

void TestGgufBase::labelsNameTheKeptTypes() {
    const auto path = qls::test::fixture_dir() / "gguf" / "llama3-tiny.gguf";
    const Model m = load_model(path);
    // The fixture's q/k/v/o are 16/32-bit: kept only in part, and the label says what the rest is.
    const KeptGgufBlocks kept = kept_gguf_blocks(m.weights, m.config, options(QuantType::NF4, true));
    QCOMPARE(kept.types, std::string("Q8_0"));
    QVERIFY(!kept.all);
    QCOMPARE(kept_gguf_blocks(m.weights, m.config, options(QuantType::NF4, false)).types, std::string());
    const KeptGgufBlocks header = gguf_linear_blocks(GgufFile(path));
    QCOMPARE(header.types, kept.types);
    QCOMPARE(header.all, kept.all);
    QCOMPARE(base_quantization_label(options(QuantType::NF4, true), kept),
             std::string("the GGUF's own Q8_0 blocks; its other linear weights nf4, blocksize 64, double quant"));
    QCOMPARE(base_quantization_label(options(std::nullopt, true), kept),
             std::string("the GGUF's own Q8_0 blocks; its other linear weights 16-bit"));
    QCOMPARE(base_quantization_label(options(QuantType::NF4, false), {}), std::string("nf4, blocksize 64, double quant"));
    // Every linear in blocks (our Q8_0 export): the blocks alone.
    qls::test::ScratchDir scratch;
    const Model q8 = load_model(q8_model(scratch));
    const KeptGgufBlocks all = kept_gguf_blocks(q8.weights, q8.config, options(QuantType::NF4, true));
    QVERIFY(all.all);
    QCOMPARE(gguf_linear_blocks(GgufFile(q8.path)).all, true);
    QCOMPARE(base_quantization_label(options(QuantType::NF4, true), all), std::string("the GGUF's own Q8_0 blocks"));
    const Model hf = load_model(ref_dir() / "models" / "llama3-tiny");
    QCOMPARE(kept_gguf_blocks(hf.weights, hf.config, options(QuantType::NF4, true)).types, std::string());
}

// The inspector's table names each weight's storage beside what NF4/FP4 would add; Q8_0 is
// 34 bytes per 32 values, 8.5 bits, F32 32 bits, F16 and BF16 16.
void TestGgufBase::inspectorShowsTheStoredBlocks() {
    const Model m = load_model(qls::test::fixture_dir() / "gguf" / "llama3-tiny.gguf");
    const QuantErrorTable t = quant_error_table(m);
    QCOMPARE(t.rows.size(), std::size_t(m.config.num_layers * 7));
    double bits = 0;
    std::int64_t n = 0;
    for (const TensorQuantRow& r : t.rows) {
        const double want = r.module == "q_proj" || r.module == "k_proj" ? 32.0
                            : r.module == "v_proj" || r.module == "o_proj" ? 16.0 : 8.5;
        QCOMPARE(r.stored_bits, want);
        QCOMPARE(r.stored, std::string(r.module == "q_proj" || r.module == "k_proj" ? "F32"
                                       : r.module == "v_proj"                       ? "F16"
                                       : r.module == "o_proj"                       ? "BF16"
                                                                                    : "Q8_0"));
        bits += want * double(numel(r.shape));
        n += numel(r.shape);
        QVERIFY(r.nf4.mse > 0);  // measured against the file's values
    }
    QCOMPARE(t.total_stored_bits, bits / double(n));
    QVERIFY2(t.verdict.starts_with("A run trains on the GGUF's own Q8_0 blocks"), t.verdict.c_str());
    const QuantErrorTable hf = quant_error_table(load_model(ref_dir() / "models" / "llama3-tiny"));
    QVERIFY(hf.verdict.starts_with("NF4 has lower error"));
}

// run.json records the choice; a run.json from before the key re-quantized its GGUF base, so an
// absent key reads as false and a resume keeps training what it trained.
void TestGgufBase::runJsonRecordsTheChoice() {
    TrainConfig c;
    QVERIFY(c.base.gguf_blocks);
    nlohmann::json j = to_json(c);
    QCOMPARE(j.at("base").at("gguf_blocks").get<bool>(), true);
    QVERIFY(train_config_from_json(j).base.gguf_blocks);
    j["base"]["gguf_blocks"] = false;
    QVERIFY(!train_config_from_json(j).base.gguf_blocks);
    j["base"].erase("gguf_blocks");
    QVERIFY(!train_config_from_json(j).base.gguf_blocks);
    j["base"]["gguf_blocks"] = "yes";
    QVERIFY_THROWS_EXCEPTION(ConfigError, train_config_from_json(j));
}

QTEST_GUILESS_MAIN(TestGgufBase)
#include "test_gguf_base.moc"
