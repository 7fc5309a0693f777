// The K-quant GGUF export against ggml itself: the block encoders must write ggml's reference
// quantizers' bytes and the decoders give ggml's values (tests/fixtures/ggml_quants/
// make_ggml_quants.sh), and the Q4_K_M / Q5_K_M / Q6_K exports of the reference tiny models
// must pick llama-quantize's type for every tensor and write its bytes (make_kquant_mix.sh).
#include <QtTest>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/export/ggml_encode.h"
#include "core/export/ggml_quant_blocks.h"
#include "core/export/gguf_model_export.h"
#include "core/export/gguf_quant_mix.h"
#include "core/io/ggml_dequant.h"
#include "core/io/gguf_reader.h"
#include "core/model/model_loader.h"
#include "core/util/crc32c.h"
#include "core/util/error.h"
#include "core/util/parallel.h"
#include "test_support.h"

using namespace qls;
using qls::test::ScratchDir;

namespace {

std::filesystem::path quants_dir() { return qls::test::fixture_dir() / "ggml_quants"; }

struct TypeCase {
    GgmlType type;
    std::vector<std::byte> bytes;  // ggml's quantization of the input rows
    std::vector<float> decoded;    // ggml's dequantization of those bytes
};

struct QuantFixture {
    std::int64_t rows = 0, row_length = 0;
    std::vector<float> input;
    std::vector<TypeCase> types;
};

class Reader {
public:
    explicit Reader(std::string bytes) : m_bytes(std::move(bytes)) {}
    std::uint32_t u32() {
        std::uint32_t v;
        take(&v, 4);
        return v;
    }
    void take(void* dst, std::size_t n) {
        if (m_pos + n > m_bytes.size()) throw std::runtime_error("ggml_quants.bin is truncated");
        std::memcpy(dst, m_bytes.data() + m_pos, n);
        m_pos += n;
    }
    bool done() const { return m_pos == m_bytes.size(); }

private:
    std::string m_bytes;
    std::size_t m_pos = 0;
};

QuantFixture read_fixture() {
    Reader r(qls::test::read_bytes(quants_dir() / "ggml_quants.bin"));
    char magic[4];
    r.take(magic, 4);
    if (std::memcmp(magic, "QKQF", 4) != 0) throw std::runtime_error("ggml_quants.bin: bad magic");
    QuantFixture f;
    f.rows = r.u32();
    f.row_length = r.u32();
    const std::size_t n = std::size_t(f.rows * f.row_length);
    f.input.resize(n);
    r.take(f.input.data(), n * 4);
    const std::uint32_t count = r.u32();
    for (std::uint32_t t = 0; t < count; ++t) {
        TypeCase c;
        c.type = GgmlType(r.u32());
        c.bytes.resize(r.u32());
        r.take(c.bytes.data(), c.bytes.size());
        c.decoded.resize(n);
        r.take(c.decoded.data(), n * 4);
        f.types.push_back(std::move(c));
    }
    if (!r.done()) throw std::runtime_error("ggml_quants.bin has trailing bytes");
    return f;
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

std::uint32_t crc_of(std::span<const std::byte> bytes) {
    return crc32c(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

GgufQuantMix mix_named(const std::string& name) {
    for (GgufQuantMix m : {GgufQuantMix::Q4_K_M, GgufQuantMix::Q5_K_M, GgufQuantMix::Q6_K})
        if (gguf_mix_name(m) == name) return m;
    throw std::runtime_error("unknown mix " + name);
}

}  // namespace

class TestGgmlQuants : public QObject {
    Q_OBJECT
private slots:
    void fixtureCoversEveryWrittenType();
    void encoderMatchesGgml();
    void encoderIsThreadCountIndependent();
    void decoderMatchesGgml();
    void rowsTheBlocksCannotCoverAreRefused();
    void mixFallbackRules();
    void mixMatchesLlamaQuantize();
    void kTypeAloneIsRefused();
};

// Every block type the encoder writes (other than the element types) has ggml's bytes to meet.
void TestGgmlQuants::fixtureCoversEveryWrittenType() {
    const QuantFixture f = read_fixture();
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q4_K, GgmlType::Q5_K,
                       GgmlType::Q6_K}) {
        QVERIFY(ggml_can_encode(t));
        QVERIFY(ggml_can_dequantize(t));
        QVERIFY2(std::any_of(f.types.begin(), f.types.end(), [t](const TypeCase& c) { return c.type == t; }),
                 ggml_type_info(t)->name.data());
    }
}

// Byte for byte what quantize_row_*_ref writes, hard rows (all zero, one outlier, constant,
// one sign, magnitudes near GROUP_MAX_EPS) included; each row reported on its own.
void TestGgmlQuants::encoderMatchesGgml() {
    const QuantFixture f = read_fixture();
    for (const TypeCase& c : f.types) {
        const std::vector<std::byte> mine = ggml_encode(c.type, f.input, f.row_length);
        QCOMPARE(mine.size(), c.bytes.size());
        const std::size_t row_bytes = c.bytes.size() / std::size_t(f.rows);
        for (std::int64_t r = 0; r < f.rows; ++r) {
            const bool same = std::memcmp(mine.data() + r * row_bytes, c.bytes.data() + r * row_bytes, row_bytes) == 0;
            QVERIFY2(same, qPrintable(QString("%1 row %2").arg(ggml_type_info(c.type)->name.data()).arg(r)));
        }
    }
}

// The parallel split over blocks must not change a byte.
void TestGgmlQuants::encoderIsThreadCountIndependent() {
    const QuantFixture f = read_fixture();
    // Enough rows that the split gives several chunks (the grain is 64K values).
    std::vector<float> big;
    for (int k = 0; k < 40; ++k) big.insert(big.end(), f.input.begin(), f.input.end());
    for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q5_0, GgmlType::Q5_1}) {
        set_num_threads(1);
        const std::vector<std::byte> one = ggml_encode(t, big, f.row_length);
        set_num_threads(4);
        const std::vector<std::byte> four = ggml_encode(t, big, f.row_length);
        set_num_threads(0);
        QVERIFY2(one == four, ggml_type_info(t)->name.data());
    }
}

// ggml's dequantize_row_* values, bit for bit, from ggml's bytes.
void TestGgmlQuants::decoderMatchesGgml() {
    const QuantFixture f = read_fixture();
    for (const TypeCase& c : f.types) {
        std::vector<float> mine(c.decoded.size());
        ggml_dequantize_row(c.type, c.bytes, mine);
        QVERIFY2(same_bits(mine, c.decoded), ggml_type_info(c.type)->name.data());
    }
}

void TestGgmlQuants::rowsTheBlocksCannotCoverAreRefused() {
    const std::vector<float> v(2 * 288, 0.5f);
    QVERIFY_THROWS_EXCEPTION(ConfigError, ggml_encode(GgmlType::Q4_K, v, 288));
    QVERIFY_THROWS_EXCEPTION(ConfigError, ggml_encode(GgmlType::Q5_0, v, 48));
    QCOMPARE(ggml_encode(GgmlType::Q5_0, v, 288).size(), std::size_t(2 * 9 * kQ5_0BlockBytes));
}

// The rules on a layout llama-quantize was not run on: 32 layers (use_more_bits picks layers
// 0-3, 28-31 and every third between), row 4096 (no fallback), untied output.
void TestGgmlQuants::mixFallbackRules() {
    const GgufMixModel m{"llama", 32, 32, 8, true};
    const std::int64_t wide[2] = {4096, 4096}, odd[2] = {576, 4096}, odder[2] = {176, 64}, vec[1] = {4096};
    auto type = [&](GgufQuantMix mix, const char* name, std::span<const std::int64_t> ne) {
        return gguf_mix_tensor_type(mix, m, name, ne);
    };
    QCOMPARE(type(GgufQuantMix::Q4_K_M, "blk.0.attn_v.weight", wide), GgmlType::Q6_K);
    QCOMPARE(type(GgufQuantMix::Q4_K_M, "blk.4.attn_v.weight", wide), GgmlType::Q4_K);
    QCOMPARE(type(GgufQuantMix::Q4_K_M, "blk.6.ffn_down.weight", wide), GgmlType::Q6_K);  // (6 - 4) % 3 == 2
    QCOMPARE(type(GgufQuantMix::Q5_K_M, "blk.7.ffn_down.weight", wide), GgmlType::Q5_K);
    QCOMPARE(type(GgufQuantMix::Q5_K_M, "blk.28.ffn_down.weight", wide), GgmlType::Q6_K);
    QCOMPARE(type(GgufQuantMix::Q4_K_M, "blk.5.attn_output.weight", wide), GgmlType::Q4_K);
    QCOMPARE(type(GgufQuantMix::Q4_K_M, "token_embd.weight", wide), GgmlType::Q4_K);
    QCOMPARE(type(GgufQuantMix::Q4_K_M, "output.weight", wide), GgmlType::Q6_K);
    QCOMPARE(type(GgufQuantMix::Q4_K_M, "output.weight", odd), GgmlType::Q8_0);
    QCOMPARE(type(GgufQuantMix::Q4_K_M, "blk.5.attn_q.weight", odd), GgmlType::Q5_0);
    QCOMPARE(type(GgufQuantMix::Q5_K_M, "blk.5.attn_q.weight", odd), GgmlType::Q5_1);
    QCOMPARE(type(GgufQuantMix::Q6_K, "blk.5.attn_q.weight", odd), GgmlType::Q8_0);
    QCOMPARE(type(GgufQuantMix::Q6_K, "blk.5.ffn_down.weight", odder), GgmlType::F16);
    QCOMPARE(type(GgufQuantMix::Q6_K, "blk.5.attn_norm.weight", vec), GgmlType::F32);
    // llama.cpp's "70B" (80 layers, grouped-query attention) widens Q4_K_M's plain attn_v.
    const GgufMixModel big{"llama", 80, 64, 8, true};
    QCOMPARE(gguf_mix_tensor_type(GgufQuantMix::Q4_K_M, big, "blk.11.attn_v.weight", wide), GgmlType::Q5_K);
    QCOMPARE(gguf_mix_file_type(GgufQuantMix::Q4_K_M), 15u);
    QCOMPARE(gguf_mix_file_type(GgufQuantMix::Q5_K_M), 17u);
    QCOMPARE(gguf_mix_file_type(GgufQuantMix::Q6_K), 18u);
}

// kquant_mix.json holds, per reference tiny model and mix, what llama-quantize wrote from our
// F32 export: each tensor's type and the CRC32C of its bytes. Our mix export must agree on all.
void TestGgmlQuants::mixMatchesLlamaQuantize() {
    const nlohmann::json want = nlohmann::json::parse(qls::test::read_bytes(quants_dir() / "kquant_mix.json"));
    QVERIFY(want.size() >= 3);
    for (const auto& [model_name, mixes] : want.items()) {
        const Model model = load_model(qls::test::ref_dir() / "models" / model_name);
        for (const auto& [mix_name, expected] : mixes.items()) {
            ScratchDir scratch;
            GgufExportOptions o;
            o.mix = mix_named(mix_name);
            o.write_modelfile = false;
            const std::filesystem::path path = scratch.path() / "model.gguf";
            export_gguf_model(model, nullptr, path, o);
            const GgufFile mine(path);
            const std::string where = model_name + " " + mix_name;
            QCOMPARE(*mine.get_u32("general.file_type"), expected["file_type"].get<std::uint32_t>());
            const auto& tensors = expected["tensors"];
            QCOMPARE(mine.tensors().size(), tensors.size());
            for (const GgufTensorInfo& t : mine.tensors()) {
                const std::string what = where + " " + t.name;
                QVERIFY2(tensors.contains(t.name), what.c_str());
                QCOMPARE(std::string(ggml_type_info(t.type)->name), tensors[t.name]["type"].get<std::string>());
                QVERIFY2(crc_of(t.data) == tensors[t.name]["crc32c"].get<std::uint32_t>(), what.c_str());
            }
        }
    }
}

// A K type for every weight would not fit most rows; it is only offered as llama.cpp's mixes.
void TestGgmlQuants::kTypeAloneIsRefused() {
    const Model model = load_model(qls::test::ref_dir() / "models" / "llama3-tiny");
    ScratchDir scratch;
    GgufExportOptions o;
    o.type = GgmlType::Q4_K;
    o.write_modelfile = false;
    QVERIFY_THROWS_EXCEPTION(ConfigError, export_gguf_model(model, nullptr, scratch.path() / "m.gguf", o));
    QVERIFY(!std::filesystem::exists(scratch.path() / "m.gguf"));
}

QTEST_GUILESS_MAIN(TestGgmlQuants)
#include "test_ggml_quants.moc"
