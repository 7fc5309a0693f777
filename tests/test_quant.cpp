// NF4/FP4 quantization against bitsandbytes' CUDA outputs (ref/bnb/, formats.md §1-2), the
// double-quant offset against torch's CUDA mean (tests/fixtures/quant/), the tables against
// formats.md, the fast path against its scalar twin, and error statistics.
#include <QtTest>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "core/io/safetensors_reader.h"
#include "core/quant/double_quant.h"
#include "core/quant/quant_error.h"
#include "core/quant/quantize_4bit.h"
#include "core/quant/rcp_approx.h"
#include "core/quant/torch_cuda_mean.h"
#include "core/util/error.h"
#include "core/util/half.h"
#include "test_support.h"

using namespace qls;

namespace {

std::uint32_t bits(float v) { return std::bit_cast<std::uint32_t>(v); }

template <typename T>
std::vector<T> copy_as(const TensorView& t) {
    std::vector<T> out(t.data.size() / sizeof(T));
    std::memcpy(out.data(), t.data.data(), out.size() * sizeof(T));
    return out;
}

TensorView f32_view(const std::vector<float>& v, Shape shape) {
    return TensorView{DType::F32, std::move(shape), std::as_bytes(std::span(v))};
}

int code_at(const std::vector<std::uint8_t>& packed, std::size_t i) {
    return i % 2 == 0 ? packed[i / 2] >> 4 : packed[i / 2] & 15;
}

// The correctly rounded reciprocal with the kernels' flush-to-zero: what the default replaced.
float ieee_reciprocal_ftz(float a) { return reciprocal_with_exceptions(a, {}); }

// Element i of tests/fixtures/quant/make_torch_mean_hashed.py's input of kind 0 (abs), 1 (wide)
// or 2 (signed): an integer hash scaled by a power of two, exact in float.
float hashed_value(std::uint64_t i, int kind) {
    constexpr std::uint64_t mask = 0xFFFFFFFFu;
    std::uint64_t h = (i * 0x9E3779B1u + static_cast<std::uint64_t>(kind + 1)) & mask;
    h ^= h >> 16;
    h = (h * 0x7FEB352Du) & mask;
    h ^= h >> 15;
    h = (h * 0x4CF5AD43u) & mask;
    h ^= h >> 16;
    const double m = static_cast<double>((h >> 8) | 1);
    if (kind == 0) return static_cast<float>(std::ldexp(m, -27));
    if (kind == 1) return static_cast<float>(std::ldexp(m, -(27 + 2 * static_cast<int>(h & 15))));
    return static_cast<float>(std::ldexp(h & 1 ? -m : m, -24));
}

}  // namespace

class TestQuant : public QObject {
    Q_OBJECT

private slots:
    void tables_match_bnb_state();
    void dynamic_map_matches_formats_md();
    void thresholds_and_boundary_scan();
    void nibble_order_odd_n_and_zero_block();
    void rcp_approx_model();
    void torch_mean_samples();
    void torch_mean_hashed();
    void fixture_cases();
    void fixture_reference_file();
    void fast_path_matches_ref_twin();
    void stats_on_known_case();
    void bits_per_param_values();
    void bad_blocksize_and_dtype();
};

void TestQuant::tables_match_bnb_state() {
    const SafetensorsFile f(test::ref_dir() / "bnb" / "bnb_reference.safetensors");
    const std::vector<float> nf4 = copy_as<float>(f.tensor("nf4_code"));
    const std::vector<float> fp4 = copy_as<float>(f.tensor("fp4_code"));
    QCOMPARE(nf4.size(), std::size_t(16));
    for (std::size_t c = 0; c < 16; ++c) {
        QCOMPARE(bits(nf4_values()[c]), bits(nf4[c]));
        QCOMPARE(bits(fp4_values()[c]), bits(fp4[c]));
    }
}

void TestQuant::dynamic_map_matches_formats_md() {
    std::ifstream in(qls::test::shared_dir() / "docs" / "formats.md");
    QVERIFY(in.good());
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string doc = ss.str();
    const std::size_t begin = doc.find("Exact signed map as fp32 bits");
    const std::size_t end = doc.find("Unsigned map", begin);
    QVERIFY(begin != std::string::npos && end != std::string::npos);
    const std::string section = doc.substr(begin, end - begin);
    const std::regex hex(R"(\b[0-9a-f]{8}\b)");
    std::vector<std::uint32_t> expected;
    for (auto it = std::sregex_iterator(section.begin(), section.end(), hex);
         it != std::sregex_iterator(); ++it)
        expected.push_back(static_cast<std::uint32_t>(std::stoul(it->str(), nullptr, 16)));
    QCOMPARE(expected.size(), std::size_t(256));
    for (std::size_t i = 0; i < 256; ++i) QCOMPARE(bits(dynamic_signed_map()[i]), expected[i]);
    // bnb stores the same map in every nested state.
    const SafetensorsFile f(test::ref_dir() / "bnb" / "bnb_reference.safetensors");
    const std::vector<float> stored = copy_as<float>(f.tensor("nf4_dq_nested_code"));
    for (std::size_t i = 0; i < 256; ++i) QCOMPARE(bits(dynamic_signed_map()[i]), bits(stored[i]));
}

void TestQuant::thresholds_and_boundary_scan() {
    // formats.md §1.2 tables.
    const std::array<std::uint32_t, 15> nf4 = {
        0xbf591cd9, 0xbf1c5270, 0xbeeb8480, 0xbeadea76, 0xbe703cec, 0xbe0d38bc, 0xbd3a7871,
        0x3d22faff, 0x3df64863, 0x3e5067e0, 0x3e9582d4, 0x3ec753f9, 0x3f006d03, 0x3f248daf,
        0x3f5c89d9};
    const std::array<std::uint32_t, 7> fp4 = {0x3b2aaab9, 0x3db00000, 0x3e555555, 0x3e955555,
                                              0x3ed55556, 0x3f155550, 0x3f555555};
    const std::array<int, 8> fp4_rank_code = {0, 1, 6, 7, 4, 5, 2, 3};
    std::vector<float> block;  // absmax 1.0, so s = x exactly in the quantizer
    std::vector<int> want_nf4, want_fp4;
    for (std::size_t k = 0; k < 15; ++k) {
        const float t = std::bit_cast<float>(nf4[k]);
        QCOMPARE(bits(nf4_thresholds()[k]), nf4[k]);
        QCOMPARE(int(quantize_nf4_code(t)), int(k));
        QCOMPARE(int(quantize_nf4_code(std::nextafter(t, 2.0f))), int(k + 1));
        block.push_back(t);
        block.push_back(std::nextafter(t, 2.0f));
        want_nf4.push_back(int(k));
        want_nf4.push_back(int(k + 1));
    }
    for (std::size_t k = 0; k < 7; ++k) {
        const float t = std::bit_cast<float>(fp4[k]);
        QCOMPARE(bits(fp4_thresholds()[k]), fp4[k]);
        QCOMPARE(int(quantize_fp4_code(t)), fp4_rank_code[k]);
        QCOMPARE(int(quantize_fp4_code(std::nextafter(t, 2.0f))), fp4_rank_code[k + 1]);
        QCOMPARE(int(quantize_fp4_code(-std::nextafter(t, 2.0f))), fp4_rank_code[k + 1] + 8);
    }
    QCOMPARE(int(quantize_fp4_code(-0.0f)), 0);
    QCOMPARE(int(quantize_fp4_code(-1e-30f)), 8);
    QCOMPARE(int(quantize_nf4_code(std::nanf(""))), 0);
    QCOMPARE(int(quantize_fp4_code(std::nanf(""))), 0);
    // The fast path on the same boundary values.
    block.push_back(1.0f);
    want_nf4.push_back(15);
    block.push_back(-1.0f);
    want_nf4.push_back(0);
    const Quantized4bit q = quantize_4bit(f32_view(block, {int64_t(block.size())}), QuantType::NF4, 32);
    for (std::size_t i = 0; i < block.size(); ++i) QCOMPARE(code_at(q.packed, i), want_nf4[i]);
}

void TestQuant::nibble_order_odd_n_and_zero_block() {
    // 1.0 -> NF4 code 15 in the high nibble, -1.0 -> code 0, 0.0 -> code 7, padding zero -> 7.
    const std::vector<float> x = {1.0f, -1.0f, 0.0f};
    const Quantized4bit q = quantize_4bit(f32_view(x, {3}), QuantType::NF4, 64);
    QCOMPARE(q.packed.size(), std::size_t(2));
    QCOMPARE(int(q.packed[0]), 0xF0);
    QCOMPARE(int(q.packed[1]), 0x77);
    const Quantized4bit f = quantize_4bit(f32_view(x, {3}), QuantType::FP4, 64);
    QCOMPARE(int(f.packed[0]), 0x3B);  // +1 -> 0011, -1 -> 1011
    QCOMPARE(int(f.packed[1]), 0x00);
    // All-zero block: absmax 0, every code 0 (NaN compares false), NF4 dequantizes to -0.0.
    const std::vector<float> zeros(64, 0.0f);
    const Quantized4bit z = quantize_4bit(f32_view(zeros, {64}), QuantType::NF4, 64);
    QCOMPARE(bits(z.absmax[0]), 0u);
    for (const std::uint8_t b : z.packed) QCOMPARE(int(b), 0);
    for (const float v : dequantize_4bit(z)) QCOMPARE(bits(v), 0x80000000u);
}

void TestQuant::rcp_approx_model() {
    const RcpExceptions table = rcp_approx_exceptions();
    QCOMPARE(table.size(), std::size_t(130));
    QVERIFY(std::is_sorted(table.begin(), table.end()));
    for (std::size_t i = 0; i < table.size(); ++i) {
        const std::uint32_t mantissa = table[i] >> 1;
        QCOMPARE(mantissa & 0x1fffu, 0u);  // 16-bit values only
        if (i > 0) QVERIFY(mantissa != table[i - 1] >> 1);
        // The listed result is one ulp from the rounded reciprocal, the same at every exponent.
        for (const int e : {-100, -1, 0, 1, 60, 125}) {
            const float x = std::ldexp(std::bit_cast<float>(0x3f800000u | mantissa), e);
            const std::int64_t delta = std::int64_t(bits(reciprocal_rcp_approx_ftz(x))) - bits(1.0f / x);
            QCOMPARE(delta, (table[i] & 1u) ? 1 : -1);
            QCOMPARE(bits(reciprocal_rcp_approx_ftz(-x)), bits(reciprocal_rcp_approx_ftz(x)) | 0x80000000u);
        }
    }
    // Unlisted mantissas keep the rounded reciprocal.
    QCOMPARE(bits(reciprocal_rcp_approx_ftz(3.0f)), bits(1.0f / 3.0f));
    // .ftz: subnormal inputs act as zero, subnormal results become zero.
    QCOMPARE(bits(reciprocal_rcp_approx_ftz(0.0f)), bits(std::numeric_limits<float>::infinity()));
    QCOMPARE(bits(reciprocal_rcp_approx_ftz(-0.0f)), bits(-std::numeric_limits<float>::infinity()));
    QCOMPARE(bits(reciprocal_rcp_approx_ftz(std::numeric_limits<float>::denorm_min())),
             bits(std::numeric_limits<float>::infinity()));
    QCOMPARE(bits(reciprocal_rcp_approx_ftz(std::ldexp(1.5f, 126))), 0u);
    QCOMPARE(bits(reciprocal_rcp_approx_ftz(std::ldexp(1.0f, 126))), bits(std::ldexp(1.0f, -126)));
    QCOMPARE(bits(reciprocal_rcp_approx_ftz(std::numeric_limits<float>::infinity())), 0u);
    QVERIFY(std::isnan(reciprocal_rcp_approx_ftz(std::numeric_limits<float>::quiet_NaN())));
}

void TestQuant::torch_mean_samples() {
    const SafetensorsFile f(test::fixture_dir() / "quant" / "torch_mean_samples.safetensors");
    int lengths = 0, exact_mean_misses = 0;
    for (const std::string& name : f.names()) {
        if (name[0] != 'x') continue;
        const std::vector<float> x = copy_as<float>(f.tensor(name));
        const float want = copy_as<float>(f.tensor("mean" + name.substr(1)))[0];
        QVERIFY2(bits(torch_cuda_mean(x)) == bits(want), name.c_str());
        double exact = 0.0;
        for (const float v : x) exact += v;
        exact_mean_misses += bits(static_cast<float>(exact / double(x.size()))) != bits(want);
        ++lengths;
    }
    QCOMPARE(lengths, 36);
    QVERIFY(exact_mean_misses > 0);  // the order matters on these samples
    QLS_VERIFY_THROWS_WITH(torch_cuda_mean({}), DataError, "0 values");
}

void TestQuant::torch_mean_hashed() {
    const SafetensorsFile f(test::fixture_dir() / "quant" / "torch_mean_hashed.safetensors");
    const std::vector<std::int64_t> lengths = copy_as<std::int64_t>(f.tensor("lengths"));
    const int sms = std::stoi(f.metadata("multiprocessors").value_or("0"));
    QCOMPARE(sms, 132);
    const char* kinds[] = {"mean_abs", "mean_wide", "mean_signed"};
    int exact_mean_matches = 0;
    for (int kind = 0; kind < 3; ++kind) {
        const std::vector<float> want = copy_as<float>(f.tensor(kinds[kind]));
        QCOMPARE(want.size(), lengths.size());
        for (std::size_t c = 0; c < lengths.size(); ++c) {
            std::vector<float> x(static_cast<std::size_t>(lengths[c]));
            double exact = 0.0;
            for (std::size_t i = 0; i < x.size(); ++i) exact += x[i] = hashed_value(i, kind);
            QVERIFY2(bits(torch_cuda_mean(x, sms)) == bits(want[c]),
                     qPrintable(QString("%1, n = %2").arg(kinds[kind]).arg(lengths[c])));
            exact_mean_matches += bits(static_cast<float>(exact / double(x.size()))) == bits(want[c]);
        }
    }
    qInfo("%zu lengths up to %lld, 3 kinds: torch_cuda_mean exact in all, the exact mean rounded "
          "once in %d of %zu", lengths.size(), static_cast<long long>(lengths.back()),
          exact_mean_matches, 3 * lengths.size());
    QCOMPARE(lengths.back(), std::int64_t(5000001));  // past the SM-dependent split (4,325,376)
}

void TestQuant::fixture_cases() {
    const SafetensorsFile f(test::ref_dir() / "bnb" / "quantize_cases.safetensors");
    const std::regex key(R"(^(\w+\.\w+)\.(nf4|fp4)\.bs(\d+)\.(sq|dq)\.packed$)");
    int cases = 0, dq_cases = 0;
    std::int64_t values = 0, ieee_mismatches = 0;
    for (const std::string& name : f.names()) {
        std::smatch m;
        if (!std::regex_match(name, m, key)) continue;
        const std::string prefix = name.substr(0, name.size() - std::string("packed").size());
        const std::string input_name = m[1].str() + ".input";
        const TensorView& in = f.tensor(input_name);
        const QuantType type = m[2] == "nf4" ? QuantType::NF4 : QuantType::FP4;
        const int bs = std::stoi(m[3]);
        const bool dq = m[4] == "dq";
        const std::vector<float> x = to_f32(in);
        const std::vector<std::uint8_t> want_packed = copy_as<std::uint8_t>(f.tensor(name));
        ++cases;
        values += static_cast<std::int64_t>(x.size());

        QuantizeOptions opts;
        if (dq) opts.offset = copy_as<float>(f.tensor(prefix + "offset"))[0];
        const Quantized4bit q = quantize_4bit(in, type, bs, dq, opts);
        QCOMPARE(q.packed.size(), want_packed.size());
        for (std::size_t i = 0; i < x.size(); ++i)
            QVERIFY2(code_at(q.packed, i) == code_at(want_packed, i),
                     qPrintable(QString("%1: element %2").arg(name.c_str()).arg(i)));
        // Without the GPU's reciprocal, FP4 on 16-bit input misses exact ties.
        QuantizeOptions ieee = opts;
        ieee.reciprocal = ieee_reciprocal_ftz;
        const Quantized4bit qi = quantize_4bit(in, type, bs, dq, ieee);
        for (std::size_t i = 0; i < x.size(); ++i) ieee_mismatches += code_at(qi.packed, i) != code_at(want_packed, i);
        if (x.size() % 2 == 1) QCOMPARE(q.packed.back() & 15, want_packed.back() & 15);
        if (!dq) {
            const std::vector<float> want_absmax = copy_as<float>(f.tensor(prefix + "absmax"));
            QCOMPARE(q.absmax.size(), want_absmax.size());
            for (std::size_t b = 0; b < want_absmax.size(); ++b)
                QCOMPARE(bits(q.absmax[b]), bits(want_absmax[b]));
        } else {
            ++dq_cases;
            const std::vector<std::uint8_t> want_q = copy_as<std::uint8_t>(f.tensor(prefix + "absmax_q"));
            const std::vector<float> want_nested = copy_as<float>(f.tensor(prefix + "nested_absmax"));
            const std::vector<float> want_code = copy_as<float>(f.tensor(prefix + "nested_code"));
            QVERIFY(q.nested.has_value());
            QVERIFY(q.nested->codes == want_q);
            QCOMPARE(q.nested->absmax.size(), want_nested.size());
            for (std::size_t c = 0; c < want_nested.size(); ++c)
                QCOMPARE(bits(q.nested->absmax[c]), bits(want_nested[c]));
            for (std::size_t c = 0; c < 256; ++c) QCOMPARE(bits(q.nested->code_map[c]), bits(want_code[c]));
            // Our own offset (torch_cuda_mean) against torch's, and so the whole nested state.
            const Quantized4bit own = quantize_4bit(in, type, bs, true);
            QVERIFY2(bits(own.nested->offset) == bits(*opts.offset), name.c_str());
            QVERIFY2(own.nested->codes == want_q, name.c_str());
            QVERIFY(own.packed == q.packed);
        }

        if (f.contains(prefix + "dequant")) {
            // Dequantize bnb's own state so the check does not depend on the quantizer.
            Quantized4bit state = q;
            state.packed = want_packed;
            if (!dq) state.absmax = copy_as<float>(f.tensor(prefix + "absmax"));
            const std::vector<std::byte> got = dequantize_4bit_to_dtype(state);
            const TensorView& want = f.tensor(prefix + "dequant");
            QCOMPARE(got.size(), want.data.size());
            QVERIFY2(std::memcmp(got.data(), want.data.data(), got.size()) == 0, name.c_str());
        }
    }
    qInfo("%d cases (%d double-quant, own offsets exact), %lld values, all byte-exact; with the "
          "IEEE reciprocal %lld codes differ", cases, dq_cases, static_cast<long long>(values),
          static_cast<long long>(ieee_mismatches));
    QCOMPARE(cases, 84);
    QCOMPARE(dq_cases, 42);
    QVERIFY(ieee_mismatches > 0);  // the fixtures do exercise the reciprocal's last bit
}

void TestQuant::fixture_reference_file() {
    const SafetensorsFile f(test::ref_dir() / "bnb" / "bnb_reference.safetensors");
    struct Case { const char* prefix; const char* input; QuantType type; bool dq; };
    const Case cases[] = {{"nf4", "input_f32", QuantType::NF4, false},
                          {"fp4", "input_f32", QuantType::FP4, false},
                          {"nf4_dq", "input_f32", QuantType::NF4, true},
                          {"bf16_nf4", "input_bf16", QuantType::NF4, false},
                          {"bf16_nf4_dq", "input_bf16", QuantType::NF4, true}};
    for (const Case& c : cases) {
        const std::string p = c.prefix;
        QuantizeOptions opts;
        if (c.dq) opts.offset = copy_as<float>(f.tensor(p + "_offset"))[0];
        const Quantized4bit q = quantize_4bit(f.tensor(c.input), c.type, 64, c.dq, opts);
        QVERIFY2(q.packed == copy_as<std::uint8_t>(f.tensor(p + "_packed")), c.prefix);
        const std::vector<float> absmax = dequantize_absmax(q);
        const std::vector<float> want_absmax =
            copy_as<float>(f.tensor(p + (c.dq ? "_absmax_dequant" : "_absmax")));
        for (std::size_t b = 0; b < absmax.size(); ++b) QCOMPARE(bits(absmax[b]), bits(want_absmax[b]));
        if (c.dq) {
            QVERIFY(q.nested->codes == copy_as<std::uint8_t>(f.tensor(p + "_absmax_q")));
            const Quantized4bit own = quantize_4bit(f.tensor(c.input), c.type, 64, true);
            QCOMPARE(bits(own.nested->offset), bits(*opts.offset));
            QVERIFY(own.nested->codes == q.nested->codes);
            QVERIFY(own.packed == q.packed);
        }
        const std::vector<std::byte> got = dequantize_4bit_to_dtype(q);
        const TensorView& want = f.tensor(p + "_dequant");
        QVERIFY2(got.size() == want.data.size() &&
                     std::memcmp(got.data(), want.data.data(), got.size()) == 0, c.prefix);
    }
}

void TestQuant::fast_path_matches_ref_twin() {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (const int n : {1, 3, 17, 129, 4097, 20011}) {
        std::vector<float> x(static_cast<std::size_t>(n));
        for (float& v : x) v = normal(rng);
        if (n > 100) {  // awkward values: thresholds, subnormals, a zero block, ties
            for (int i = 0; i < 64; ++i) x[static_cast<std::size_t>(i)] = 0.0f;
            x[70] = 1e-40f;
            x[71] = -1e-40f;
            x[72] = -3e-39f;
            x[64] = 1.0f;
            x[65] = fp4_thresholds()[2];
            x[66] = nf4_thresholds()[9];
        }
        std::vector<std::uint16_t> b16(x.size()), h16(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) {
            b16[i] = f32_to_bf16(x[i]);
            h16[i] = f32_to_f16(x[i]);
        }
        const TensorView views[] = {f32_view(x, {n}),
                                    {DType::BF16, {n}, std::as_bytes(std::span(b16))},
                                    {DType::F16, {n}, std::as_bytes(std::span(h16))}};
        for (const TensorView& v : views)
            for (const QuantType t : {QuantType::NF4, QuantType::FP4})
                for (const int bs : {32, 64, 256, 4096})
                    for (const bool dq : {false, true}) {
                        const Quantized4bit a = quantize_4bit(v, t, bs, dq);
                        const Quantized4bit b = quantize_4bit_ref(v, t, bs, dq);
                        QVERIFY(a.packed == b.packed);
                        const std::vector<float> ma = dequantize_absmax(a), mb = dequantize_absmax(b);
                        QVERIFY(std::memcmp(ma.data(), mb.data(), ma.size() * 4) == 0);
                    }
    }
}

void TestQuant::stats_on_known_case() {
    // One block of 64: 32 x 1.0 and 32 x 0.5. absmax 1; NF4 codes 15 (1.0, exact) and
    // 12 (0.44070983, since 0.5 <= t12 = 0.50166339). Error: 32 values of 0.44070983 - 0.5.
    std::vector<float> x(64);
    for (std::size_t i = 0; i < 64; ++i) x[i] = i % 2 == 0 ? 1.0f : 0.5f;
    const TensorView v = f32_view(x, {2, 32});
    const QuantErrorStats st = quant_error_stats(v, quantize_4bit(v, QuantType::NF4, 64));
    const double e = static_cast<double>(std::bit_cast<float>(0x3ee1a4b8u)) - 0.5;
    QCOMPARE(st.numel, std::int64_t(64));
    QVERIFY(std::fabs(st.mse - e * e / 2.0) < 1e-15);
    QVERIFY(std::fabs(st.max_abs_error - std::fabs(e)) < 1e-15);
    QVERIFY(std::fabs(st.snr_db - 10.0 * std::log10((32 * 1.0 + 32 * 0.25) / (32 * e * e))) < 1e-9);
    QCOMPARE(st.block_mse.size(), std::size_t(1));
    QVERIFY(std::fabs(st.block_mse[0] - e * e / 2.0) < 1e-9);
    // 201 bins over [-1, 1]: 1.0 -> last bin, 0.5 -> bin 150.
    QCOMPARE(st.normalized.counts[200], std::int64_t(32));
    QCOMPARE(st.normalized.counts[150], std::int64_t(32));
    // Error bins over +-0.25: 0 -> bin 100, e = -0.0593 -> bin floor((e + 0.25) / 0.5 * 201).
    QCOMPARE(st.error.counts[100], std::int64_t(32));
    QCOMPARE(st.error.counts[static_cast<std::size_t>((e + 0.25) / 0.5 * 201)], std::int64_t(32));
    const auto cmp = compare_quant_variants(v);
    QCOMPARE(cmp[0].label, std::string_view("NF4"));
    QCOMPARE(cmp[1].label, std::string_view("NF4+DQ"));
    QCOMPARE(cmp[2].label, std::string_view("FP4"));
    // FP4: 1.0 exact, 0.5 exact (code 5) -> no error at all.
    QCOMPARE(cmp[2].stats.mse, 0.0);
    QVERIFY(std::isinf(cmp[2].stats.snr_db));
}

void TestQuant::bits_per_param_values() {
    std::vector<float> x(256 * 256, 0.25f);
    const TensorView v = f32_view(x, {256, 256});
    QCOMPARE(bits_per_param(quantize_4bit(v, QuantType::NF4, 64)), 4.5);
    // 4 + 8/64 + 32/(64*256): the per-tensor offset is not counted (core/quant/quant_storage.h)
    QCOMPARE(bits_per_param(quantize_4bit(v, QuantType::NF4, 64, true)), 4.0 + 0.125 + 32.0 / 16384.0);
    QCOMPARE(bits_per_param(quantize_4bit(v, QuantType::FP4, 128)), 4.25);
}

void TestQuant::bad_blocksize_and_dtype() {
    std::vector<float> x(64, 1.0f);
    const TensorView v = f32_view(x, {64});
    QLS_VERIFY_THROWS_WITH(quantize_4bit(v, QuantType::NF4, 48), ConfigError, "got 48");
    QLS_VERIFY_THROWS_WITH(quantize_4bit(v, QuantType::NF4, 16), ConfigError, "power of two");
    QLS_VERIFY_THROWS_WITH(quantize_4bit(v, QuantType::NF4, 8192), ConfigError, "8192");
    std::vector<std::int32_t> ints(64, 1);
    const TensorView iv{DType::I32, {64}, std::as_bytes(std::span(ints))};
    QLS_VERIFY_THROWS_WITH(quantize_4bit(iv, QuantType::FP4), ConfigError, "I32");
}

QTEST_GUILESS_MAIN(TestQuant)
#include "test_quant.moc"
