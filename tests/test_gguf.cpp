// GGUF reader, dequantization and model loading against fixtures made by llama.cpp's own tools
// (tests/fixtures/gguf/make_gguf_fixtures.py): gguf-py's writer and quantizers, llama-quantize
// for the K-quants, and gguf-py's dequantize (a mirror of ggml's) for the expected values.
#include <QtTest>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/io/ggml_dequant.h"
#include "core/io/gguf_reader.h"
#include "core/io/safetensors_reader.h"
#include "core/model/gguf_model_loader.h"
#include "core/model/gguf_rope_scaling.h"
#include "core/model/llama_config.h"
#include "core/util/error.h"
#include "test_gguf_builder.h"
#include "test_support.h"

using namespace qls;
using qls::test::GgufBuilder;

namespace {

std::filesystem::path gguf_dir() { return qls::test::fixture_dir() / "gguf"; }

std::vector<float> read_f32_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<float> out(bytes.size() / sizeof(float));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
}

// Bit patterns, so NaN payloads and -0 count.
bool same_bits(float a, float b) { return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b); }

nlohmann::json read_json(const std::filesystem::path& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

// How far a GGUF weight may be from the HF fp32 value it was made from, by its GGUF type.
// Q8_0: |q·d' − x| ≤ d/2 + 127·|d' − d| with d = amax/127 per block of 32 and d' = fp16(d).
void check_close_to_hf(const std::string& name, GgmlType type, std::span<const float> got,
                       std::span<const float> want, std::int64_t row_len) {
    QCOMPARE(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        double tol = 0;
        if (type == GgmlType::F16) tol = std::abs(want[i]) * std::ldexp(1.0, -11) + std::ldexp(1.0, -25);
        if (type == GgmlType::BF16) tol = std::abs(want[i]) * std::ldexp(1.0, -8);
        if (type == GgmlType::Q8_0) {
            const std::size_t block = i / 32 * 32;
            QVERIFY(std::size_t(row_len) % 32 == 0);
            float amax = 0;
            for (std::size_t k = block; k < block + 32; ++k) amax = std::max(amax, std::abs(want[k]));
            tol = amax / 127.0 * 0.57;
        }
        if (!(std::abs(double(got[i]) - want[i]) <= tol))
            QFAIL(qPrintable(QString("%1[%2]: got %3, want %4 (tolerance %5)")
                                 .arg(QString::fromStdString(name)).arg(i).arg(got[i]).arg(want[i]).arg(tol)));
    }
}

std::span<const float> floats(const TensorView& v) { return v.as<float>(); }

void write_bytes(const std::filesystem::path& path, std::span<const std::byte> bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// Replaces the only occurrence of `from` in `bytes` by `to` (same length).
void patch(std::vector<std::byte>& bytes, std::string_view from, std::string_view to) {
    QVERIFY(from.size() == to.size());
    const auto* begin = reinterpret_cast<const char*>(bytes.data());
    const std::string_view all(begin, bytes.size());
    const auto at = all.find(from);
    QVERIFY(at != std::string_view::npos);
    QVERIFY(all.find(from, at + 1) == std::string_view::npos);
    std::memcpy(bytes.data() + at, to.data(), to.size());
}

std::vector<std::byte> file_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(c.size());
    std::memcpy(out.data(), c.data(), c.size());
    return out;
}

}  // namespace

class TestGguf : public QObject {
    Q_OBJECT

private slots:
    void dequantizeMatchesGgml_data();
    void dequantizeMatchesGgml();
    void dequantizeRowByRow();
    void unsupportedTypeNamesTensor();
    void tensorInfo();
    void metadataTypedAccess();
    void llamaRoundTrip();
    void qwen2RoundTrip();
    void llama3RopeFromRopeFreqs();
    void tokenizerData();
    void badInputs_data();
    void badInputs();
    void truncatedEverywhere();
    void badModels();
};

void TestGguf::dequantizeMatchesGgml_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<int>("type");
    for (auto [name, type] : {std::pair{"f32", GgmlType::F32}, {"f16", GgmlType::F16}, {"bf16", GgmlType::BF16},
                              {"q8_0", GgmlType::Q8_0}, {"q4_0", GgmlType::Q4_0}, {"q4_1", GgmlType::Q4_1},
                              {"q4_k", GgmlType::Q4_K}, {"q5_k", GgmlType::Q5_K}, {"q6_k", GgmlType::Q6_K}})
        QTest::newRow(name) << QString(name) << int(type);
}

void TestGguf::dequantizeMatchesGgml() {
    QFETCH(QString, name);
    QFETCH(int, type);
    const GgufFile file(gguf_dir() / "types.gguf");
    const GgufTensorInfo& t = file.tensor(name.toStdString());
    QCOMPARE(int(t.type), type);
    const std::vector<float> want = read_f32_file(gguf_dir() / "expected" / (name.toStdString() + ".f32"));
    const std::vector<float> got = gguf_dequantize(file, t);
    QCOMPARE(got.size(), want.size());
    QVERIFY(!want.empty());
    for (std::size_t i = 0; i < want.size(); ++i)
        if (!same_bits(got[i], want[i]))
            QFAIL(qPrintable(QString("%1[%2]: got %3, want %4").arg(name).arg(i).arg(got[i]).arg(want[i])));
}

// Row slices decode independently, as the threaded loop relies on.
void TestGguf::dequantizeRowByRow() {
    const GgufFile file(gguf_dir() / "types.gguf");
    for (const char* name : {"q4_k", "q6_k", "q4_1"}) {
        const GgufTensorInfo& t = file.tensor(name);
        const std::vector<float> want = read_f32_file(gguf_dir() / "expected" / (std::string(name) + ".f32"));
        const std::size_t row = std::size_t(t.row_length()), rows = want.size() / row;
        const std::size_t row_bytes = t.n_bytes / rows;
        for (std::size_t r = rows; r-- > 0;) {
            std::vector<float> got(row);
            ggml_dequantize_row(t.type, t.data.subspan(r * row_bytes, row_bytes), got);
            QVERIFY(std::memcmp(got.data(), want.data() + r * row, row * sizeof(float)) == 0);
        }
    }
}

// A type without a decoder (Q2_K: no export writes it) is named with its tensor and file.
void TestGguf::unsupportedTypeNamesTensor() {
    GgufBuilder b = GgufBuilder::valid();
    b.tensors[1] = {"b", {256}, std::uint32_t(GgmlType::Q2_K), 64};
    b.data_size = 64 + 84;
    const GgufFile file(b.build(), "q2k.gguf");
    const GgufTensorInfo& t = file.tensor("b");
    QCOMPARE(t.type, GgmlType::Q2_K);
    QVERIFY(!ggml_can_dequantize(GgmlType::Q2_K));
    QLS_VERIFY_THROWS_WITH(gguf_dequantize(file, t), FormatError, "unsupported GGUF tensor type Q2_K in tensor 'b'");
    QLS_VERIFY_THROWS_WITH(gguf_dequantize(file, t), FormatError, "q2k.gguf");
}

void TestGguf::tensorInfo() {
    const GgufFile file(gguf_dir() / "types.gguf");
    QCOMPARE(file.version(), 3u);
    QCOMPARE(file.alignment(), 32u);
    QCOMPARE(file.data_offset() % 32, 0u);
    QCOMPARE(file.tensors().size(), 9u);
    const GgufTensorInfo& f32 = file.tensor("f32");
    QCOMPARE(f32.ne, (std::vector<std::int64_t>{64, 3, 2}));
    QCOMPARE(f32.shape(), (Shape{2, 3, 64}));
    QCOMPARE(f32.n_bytes, 2u * 3 * 64 * 4);
    const GgufTensorInfo& q4k = file.tensor("q4_k");
    QCOMPARE(q4k.shape(), (Shape{4, 512}));
    QCOMPARE(q4k.n_bytes, 4u * 2 * 144);
    QCOMPARE(file.find_tensor("nope"), nullptr);
    QLS_VERIFY_THROWS_WITH(file.tensor("nope"), FormatError, "tensor 'nope' is missing");
}

void TestGguf::metadataTypedAccess() {
    const GgufFile file(gguf_dir() / "types.gguf");
    QCOMPARE(file.metadata().size(), 18u);
    QCOMPARE(file.metadata().front().first, std::string("general.architecture"));
    QCOMPARE(file.get_string("general.architecture").value(), std::string("test"));
    QCOMPARE(file.get_int("test.u8").value(), 200);
    QCOMPARE(file.get_int("test.i8").value(), -100);
    QCOMPARE(file.get_int("test.u16").value(), 60000);
    QCOMPARE(file.get_int("test.i16").value(), -30000);
    QCOMPARE(file.get_u32("test.u32").value(), 4000000000u);
    QCOMPARE(file.get_int("test.i32").value(), -2000000000);
    QCOMPARE(file.get_int("test.i64").value(), -9000000000000000000LL);
    QCOMPARE(std::get<std::uint64_t>(file.find("test.u64")->data), 18000000000000000000ULL);
    QLS_VERIFY_THROWS_WITH(file.get_int("test.u64"), FormatError, "key 'test.u64' is 18000000000000000000, out of");
    QLS_VERIFY_THROWS_WITH(file.get_u32("test.i32"), FormatError, "key 'test.i32' is -2000000000, out of the uint32");
    QCOMPARE(file.get_float("test.f32").value(), double(0.1f));
    QCOMPARE(f32_shortest_decimal(*file.get_float("test.f32")), 0.1);
    QCOMPARE(file.get_float("test.f64").value(), 0.1);
    QCOMPARE(file.get_bool("test.bool").value(), true);
    QCOMPARE(file.get_string("test.string").value(), std::string("h\xc3\xa9llo w\xc3\xb6rld"));
    QCOMPARE(file.get_string_array("test.array.string").value(), (std::vector<std::string>{"a", "bc", "", "d e"}));
    QCOMPARE(file.get_int_array("test.array.i32").value(), (std::vector<std::int64_t>{1, -2, 3}));
    QCOMPARE(file.get_f32_array("test.array.f32").value(), (std::vector<float>{0.5f, -1.25f}));
    const auto& nested = std::get<GgufArray>(file.find("test.array.nested")->data);
    QCOMPARE(nested.elem_type, GgufValueType::Array);
    QCOMPARE(nested.items.size(), 3u);
    const auto& third = std::get<GgufArray>(nested.items[2].data);
    QCOMPARE(third.elem_type, GgufValueType::I32);
    QCOMPARE(std::get<std::int64_t>(third.items[2].data), 6);
    QCOMPARE(file.get_int("absent").has_value(), false);
    QCOMPARE(file.get_string_array("absent").has_value(), false);
    QLS_VERIFY_THROWS_WITH(file.get_string("test.u8"), FormatError, "key 'test.u8' has type UINT8, expected STRING");
    QLS_VERIFY_THROWS_WITH(file.get_int("test.f32"), FormatError, "key 'test.f32' has type FLOAT32, expected an integer");
    QLS_VERIFY_THROWS_WITH(file.get_string_array("test.array.i32"), FormatError, "'test.array.i32' has type ARRAY of INT32");
    QLS_VERIFY_THROWS_WITH(file.require_int("absent.key"), FormatError, "required key 'absent.key' is missing");
    QLS_VERIFY_THROWS_WITH(file.get_bool("test.string"), FormatError, "types.gguf");
}

void TestGguf::llamaRoundTrip() {
    const auto ref = qls::test::ref_dir() / "models" / "llama3-tiny";
    const GgufFile file(gguf_dir() / "llama3-tiny.gguf");
    const GgufModel m = load_gguf_model(file);
    QCOMPARE(m.name, std::string("llama3-tiny"));

    const LlamaConfig want = load_llama_config(ref / "config.json");
    const LlamaConfig& c = m.config;
    QCOMPARE(c.model_type, want.model_type);
    QCOMPARE(c.architecture, want.architecture);
    QCOMPARE(c.hidden_size, want.hidden_size);
    QCOMPARE(c.intermediate_size, want.intermediate_size);
    QCOMPARE(c.num_layers, want.num_layers);
    QCOMPARE(c.num_heads, want.num_heads);
    QCOMPARE(c.num_kv_heads, want.num_kv_heads);
    QCOMPARE(c.head_dim, want.head_dim);
    QCOMPARE(c.vocab_size, want.vocab_size);
    QCOMPARE(c.max_position_embeddings, want.max_position_embeddings);
    QCOMPARE(c.rms_norm_eps, want.rms_norm_eps);
    QCOMPARE(c.rope_theta, want.rope_theta);
    QCOMPARE(int(c.rope_scaling.type), int(RopeType::Llama3));
    QCOMPARE(c.rope_scaling.factor, want.rope_scaling.factor);
    QCOMPARE(c.rope_scaling.low_freq_factor, want.rope_scaling.low_freq_factor);
    QCOMPARE(c.rope_scaling.high_freq_factor, want.rope_scaling.high_freq_factor);
    QCOMPARE(c.rope_scaling.original_max_position, want.rope_scaling.original_max_position);
    QCOMPARE(c.tie_word_embeddings, want.tie_word_embeddings);
    QCOMPARE(c.qkv_bias, want.qkv_bias);
    QCOMPARE(c.bos_token_ids, want.bos_token_ids);
    QCOMPARE(c.eos_token_ids, want.eos_token_ids);
    QCOMPARE(m.rope_freqs.size(), std::size_t(c.head_dim / 2));

    const SafetensorsFile hf(ref / "model.safetensors");
    QCOMPARE(m.weights.tensors.size(), hf.tensors().size());
    int exact = 0;
    for (const NamedTensor& t : hf.tensors()) {
        const Weight& w = m.weights.get(t.name);
        QCOMPARE(w.shape, t.view.shape);
        QCOMPARE(w.view.dtype, DType::F32);
        const bool is_f32 = t.view.shape.size() == 1 || t.name.find("q_proj") != std::string::npos ||
                            t.name.find("k_proj") != std::string::npos;
        if (is_f32) {
            // Norms and the permuted q/k are F32 in the file: un-permuted they equal HF exactly.
            QVERIFY2(std::memcmp(w.view.data.data(), t.view.data.data(), t.view.data.size()) == 0, t.name.c_str());
            ++exact;
            continue;
        }
        const GgmlType type = t.name.find("v_proj") != std::string::npos   ? GgmlType::F16
                              : t.name.find("o_proj") != std::string::npos ? GgmlType::BF16
                                                                           : GgmlType::Q8_0;
        QVERIFY2(w.view.data.empty() && !w.gguf_data.empty(), t.name.c_str());  // decoded on request
        check_close_to_hf(t.name, type, floats(dense_values(w).view), floats(t.view), t.view.shape.back());
    }
    QCOMPARE(exact, 3 * 4 + 1);  // per layer 2 norms + q + k, and the final norm
}

void TestGguf::qwen2RoundTrip() {
    const auto ref = qls::test::ref_dir() / "models" / "qwen2-tiny";
    const GgufModel m = load_gguf_model(gguf_dir() / "qwen2-tiny.gguf");
    const LlamaConfig want = load_llama_config(ref / "config.json");
    const LlamaConfig& c = m.config;
    QCOMPARE(c.model_type, std::string("qwen2"));
    QCOMPARE(c.architecture, want.architecture);
    QCOMPARE(c.hidden_size, want.hidden_size);
    QCOMPARE(c.intermediate_size, want.intermediate_size);
    QCOMPARE(c.num_layers, want.num_layers);
    QCOMPARE(c.num_heads, want.num_heads);
    QCOMPARE(c.num_kv_heads, want.num_kv_heads);
    QCOMPARE(c.head_dim, want.head_dim);
    QCOMPARE(c.vocab_size, want.vocab_size);
    QCOMPARE(c.rms_norm_eps, want.rms_norm_eps);
    QCOMPARE(c.rope_theta, want.rope_theta);
    QCOMPARE(int(c.rope_scaling.type), int(RopeType::Default));
    QCOMPARE(c.tie_word_embeddings, false);
    QCOMPARE(c.qkv_bias, true);
    QCOMPARE(c.eos_token_ids, want.eos_token_ids);
    QVERIFY(m.rope_freqs.empty());

    const SafetensorsFile hf(ref / "model.safetensors");
    QCOMPARE(m.weights.tensors.size(), hf.tensors().size());
    for (const NamedTensor& t : hf.tensors()) {
        const Weight& w = m.weights.get(t.name);
        QCOMPARE(w.shape, t.view.shape);
        if (t.view.shape.size() == 1) {  // norms and q/k/v biases: F32, not permuted for qwen2
            QVERIFY2(std::memcmp(w.view.data.data(), t.view.data.data(), t.view.data.size()) == 0, t.name.c_str());
            continue;
        }
        const std::int64_t row = t.view.shape.back();
        check_close_to_hf(t.name, row % 32 == 0 ? GgmlType::Q8_0 : GgmlType::F16,
                          floats(dense_values(w).view), floats(t.view), row);
    }
}

// rope_freqs.weight of Llama 3.1 8B and 3.2 1B as llama.cpp's converter computes it.
void TestGguf::llama3RopeFromRopeFreqs() {
    const GgufFile file(gguf_dir() / "rope_freqs.gguf");
    for (auto [name, head_dim, factor] : {std::tuple{"llama3_1_8b", 128, 8.0}, {"llama3_2_1b", 64, 32.0}}) {
        const std::vector<float> divisors = gguf_dequantize(file, file.tensor(name));
        const auto s = llama3_scaling_from_rope_freqs(divisors, 500000.0, head_dim);
        QVERIFY2(s.has_value(), name);
        QCOMPARE(int(s->type), int(RopeType::Llama3));
        QCOMPARE(s->factor, factor);
        QCOMPARE(s->low_freq_factor, 1.0);
        QCOMPARE(s->high_freq_factor, 4.0);
        QCOMPARE(s->original_max_position, 8192);
        std::vector<float> bent = divisors;
        *std::find_if(bent.begin(), bent.end(), [](float d) { return d > 1; }) *= 1.01f;  // off the curve
        QVERIFY(!llama3_scaling_from_rope_freqs(bent, 500000.0, head_dim).has_value());
        QVERIFY(!llama3_scaling_from_rope_freqs(divisors, 10000.0, head_dim).has_value());  // other theta
    }
    const std::vector<float> ones(32, 1.0f);
    QCOMPARE(int(llama3_scaling_from_rope_freqs(ones, 500000.0, 64)->type), int(RopeType::Default));
}

void TestGguf::tokenizerData() {
    const auto ref = qls::test::ref_dir() / "models" / "llama3-tiny";
    const GgufTokenizerData t = read_gguf_tokenizer(GgufFile(gguf_dir() / "llama3-tiny.gguf"));
    const nlohmann::json tok = read_json(ref / "tokenizer.json");
    QCOMPARE(t.model, std::string("gpt2"));
    QCOMPARE(t.pre, std::string("llama-bpe"));
    QCOMPARE(t.tokens.size(), 1024u);
    for (const auto& [text, id] : tok["model"]["vocab"].items()) QCOMPARE(t.tokens.at(id.get<std::size_t>()), text);
    for (const auto& added : tok["added_tokens"]) {
        const auto id = added["id"].get<std::size_t>();
        QCOMPARE(t.tokens.at(id), added["content"].get<std::string>());
        QCOMPARE(t.token_types.at(id), 3);  // control
    }
    QCOMPARE(t.token_types.size(), 1024u);
    QCOMPARE(t.token_types[100], 1);
    QCOMPARE(t.merges.size(), tok["model"]["merges"].size());
    const auto& m0 = tok["model"]["merges"][0];
    QCOMPARE(t.merges[0], m0[0].get<std::string>() + " " + m0[1].get<std::string>());
    QVERIFY(t.scores.empty());
    QCOMPARE(t.bos_id, std::optional<std::int64_t>(0));
    QCOMPARE(t.eos_id, std::optional<std::int64_t>(4));
    QCOMPARE(t.add_bos, std::optional<bool>(true));
    QCOMPARE(t.chat_template, read_json(ref / "tokenizer_config.json")["chat_template"].get<std::string>());
}

void TestGguf::badInputs_data() {
    QTest::addColumn<int>("which");
    QTest::addColumn<QString>("needle");
    const std::vector<std::pair<const char*, const char*>> cases = {
        {"bad magic", "bad magic 47 47 55 47"},
        {"version 1", "GGUF version 1 is not supported"},
        {"version 4", "unsupported GGUF version 4"},
        {"huge tensor count", "the tensor count: count 1099511627776 cannot fit"},
        {"huge key length", "the key of metadata entry #0: string length 1152921504606846976 exceeds"},
        {"huge string length", "key 'test.str': string length 1152921504606846976 exceeds"},
        {"huge array count", "key 'test.arr': count 4611686018427387904 cannot fit"},
        {"unknown value type", "key 'test.str': unknown GGUF value type 13"},
        {"arrays nested too deep", "key 'test.arr': arrays nested deeper than 8"},
        {"duplicate key", "duplicate key 'test.arr'"},
        {"alignment not a power of 2", "'general.alignment' is 48, not a power of 2"},
        {"alignment a string", "key 'general.alignment' has type STRING, expected an integer"},
        {"n_dims 5", "tensor 'b' has 5 dimensions, at most 4"},
        {"ne overflow", "tensor 'b' has ne [1099511627776, 1099511627776] whose element count overflows"},
        {"ne negative", "tensor 'b' dimension 0 has an invalid size 18446744073709551615"},
        {"unknown type 5", "tensor 'b' has unknown ggml type id 5"},
        {"unknown type 99", "tensor 'b' has unknown ggml type id 99"},
        {"partial block", "tensor 'b' of type Q8_0 has rows of 48 elements, not a multiple of the block size 32"},
        {"misaligned offset", "tensor 'b' has offset 80, not a multiple of the alignment 32"},
        {"offset beyond file", "tensor 'b' (offset 4096, 34 bytes) lies beyond the end"},
        {"offset overflow", "tensor 'b' (offset 18446744073709551584, 34 bytes) lies beyond the end"},
        {"overlap", "tensor 'b' at offset 32 overlaps tensor 'a'"},
        {"duplicate tensor", "duplicate tensor name 'a'"},
        {"empty key", "metadata entry #1 has an empty key"},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) QTest::newRow(cases[i].first) << int(i) << QString(cases[i].second);
}

void TestGguf::badInputs() {
    QFETCH(int, which);
    QFETCH(QString, needle);
    GgufBuilder b = GgufBuilder::valid();
    switch (which) {
        case 0: b.magic = 0x47554747; break;
        case 1: b.version = 1; break;
        case 2: b.version = 4; break;
        case 3: b.tensor_count = 1ULL << 40; break;
        case 4: b.kvs[0].key_length = 1ULL << 60; break;
        case 5: b.kv("test.str").string_length = 1ULL << 60; break;
        case 6: b.kv("test.arr").array_count = 1ULL << 62; break;
        case 7: b.kv("test.str").type = 13; break;
        case 8: b.kv("test.arr").nesting = 9; break;
        case 9: b.kvs.push_back(b.kv("test.arr")); break;
        case 10: b.kvs.push_back(GgufBuilder::Kv::u32("general.alignment", 48)); break;
        case 11: b.kvs.push_back(GgufBuilder::Kv::str("general.alignment", "32")); break;
        case 12: b.tensors[1].ne = {32, 1, 1, 1, 1}; break;
        case 13: b.tensors[1].ne = {1ULL << 40, 1ULL << 40}; break;
        case 14: b.tensors[1].ne = {~0ULL}; break;
        case 15: b.tensors[1].type = 5; break;
        case 16: b.tensors[1].type = 99; break;
        case 17: b.tensors[1].ne = {48}; break;
        case 18: b.tensors[1].offset = 80; break;
        case 19: b.tensors[1].offset = 4096; break;
        case 20: b.tensors[1].offset = ~0ULL - 31; break;
        case 21: b.tensors[1].offset = 32; break;
        case 22: b.tensors[1].name = "a"; break;
        case 23: b.kvs[1].key = ""; break;
    }
    qls::test::ScratchDir dir;
    const auto path = dir.path() / "corrupt.gguf";
    write_bytes(path, b.build());
    const std::string where = "GGUF file '" + path.string() + "'", what = needle.toStdString();
    QLS_VERIFY_THROWS_WITH(GgufFile{path}, FormatError, what.c_str());
    QLS_VERIFY_THROWS_WITH(GgufFile{path}, FormatError, where.c_str());
}

// Every prefix of valid files fails cleanly, naming the file; the whole file parses.
void TestGguf::truncatedEverywhere() {
    const std::vector<std::byte> small = GgufBuilder::valid().build();
    QCOMPARE(GgufFile(small, "small.gguf").tensors().size(), 2u);
    for (std::size_t n = 0; n < small.size(); ++n)
        QLS_VERIFY_THROWS_WITH(GgufFile(std::vector<std::byte>(small.begin(), small.begin() + n), "small.gguf"),
                               FormatError, "GGUF file 'small.gguf': ");
    const std::vector<std::byte> types = file_bytes(gguf_dir() / "types.gguf");
    std::size_t checked = 0;
    for (std::size_t n = 0; n < types.size(); n += n < 2048 ? 1 : 97, ++checked)
        QLS_VERIFY_THROWS_WITH(GgufFile(std::vector<std::byte>(types.begin(), types.begin() + n), "types.gguf"),
                               FormatError, "types.gguf");
    QVERIFY(checked > 2048);
    qls::test::ScratchDir dir;
    const auto path = dir.path() / "cut.gguf";
    write_bytes(path, std::span(types).first(types.size() - 1));
    QLS_VERIFY_THROWS_WITH(GgufFile{path}, FormatError, "tensor 'q5_k' (offset");
    write_bytes(path, std::span(types).first(100));  // too short for the 9 tensor infos announced
    QLS_VERIFY_THROWS_WITH(GgufFile{path}, FormatError, "the tensor count: count 9 cannot fit in the 84 bytes left");
    write_bytes(path, std::span(types).first(440));  // inside the strings of test.array.string
    QLS_VERIFY_THROWS_WITH(GgufFile{path}, FormatError, "key 'test.array.string': count 4 cannot fit in the 25 bytes");
    write_bytes(path, std::span(types).first(278));  // inside the value of test.f32
    QLS_VERIFY_THROWS_WITH(GgufFile{path}, FormatError,
                           "truncated while reading key 'test.f32': need 4 bytes at offset 276, only 2 left");
}

void TestGguf::badModels() {
    qls::test::ScratchDir dir;
    const auto path = dir.path() / "model.gguf";
    const std::vector<std::byte> llama = file_bytes(gguf_dir() / "llama3-tiny.gguf");

    std::vector<std::byte> bytes = llama;
    patch(bytes, std::string_view("\x05\0\0\0\0\0\0\0llama", 13), std::string_view("\x05\0\0\0\0\0\0\0bloom", 13));
    write_bytes(path, bytes);
    QLS_VERIFY_THROWS_WITH(load_gguf_model(path), FormatError, "unsupported architecture 'bloom'");
    QLS_VERIFY_THROWS_WITH(load_gguf_model(path), FormatError, path.c_str());

    bytes = llama;
    patch(bytes, "blk.2.ffn_up.weight", "blk.7.ffn_up.weight");
    write_bytes(path, bytes);
    QLS_VERIFY_THROWS_WITH(load_gguf_model(path), FormatError, "missing tensor 'model.layers.2.mlp.up_proj.weight'");

    bytes = llama;
    patch(bytes, "blk.1.ffn_norm.weight", "blk.1.ffn_xxxx.weight");
    write_bytes(path, bytes);
    QLS_VERIFY_THROWS_WITH(load_gguf_model(path), FormatError, "tensor 'blk.1.ffn_xxxx.weight' is not part of a llama model");

    // head_count_kv 2 -> 3: k/v no longer have the shape the metadata implies.
    bytes = llama;
    patch(bytes, std::string_view("head_count_kv\x04\0\0\0\x02\0\0\0", 21), std::string_view("head_count_kv\x04\0\0\0\x03\0\0\0", 21));
    write_bytes(path, bytes);
    QLS_VERIFY_THROWS_WITH(load_gguf_model(path), FormatError, "tensor 'blk.0.attn_k.weight' (model.layers.0.self_attn.k_proj.weight): expected shape [48, 96]");

    bytes = llama;
    patch(bytes, "rope_freqs.weight", "rope_freqs.weigh2");
    write_bytes(path, bytes);
    QLS_VERIFY_THROWS_WITH(load_gguf_model(path), FormatError, "tensor 'rope_freqs.weigh2' is not part of a llama model");
}

QTEST_GUILESS_MAIN(TestGguf)
#include "test_gguf.moc"
