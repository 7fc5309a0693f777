// The bitsandbytes fixtures (shared/fixtures/ref/bnb: quantize_cases.safetensors and
// bnb_reference.safetensors, made by bnb 0.50.2 on an H100) as checks of the 4-bit kernels.
// Shared by tests/test_cuda_quant.cpp and qls-bench-kernels; header-only like quant_check.h.
#pragma once
#include <string>
#include <vector>

#include "core/io/safetensors_reader.h"
#include "kernels/bench/quant_check.h"

namespace qls::cuda::check {


// Tensor names in one fixture file; "" where the case has no such tensor.
struct FixtureCase {
    std::string name;
    std::string input;
    QuantType type = QuantType::NF4;
    int blocksize = 64;
    bool nested = false;
    std::string packed;
    std::string absmax;  // F32 absmax, or U8 codes when nested
    std::string nested_absmax, nested_code, offset;
    std::string dequant;         // bnb's dequantize_4bit in the input dtype
    std::string absmax_dequant;  // the rebuilt fp32 absmax of a nested case
};

// quantize_cases.safetensors: keys INPUT.DTYPE.TYPE.bsN.sq|dq.FIELD, the input INPUT.DTYPE.input.
inline std::vector<FixtureCase> quantize_fixture_cases(const SafetensorsFile& f) {
    std::vector<FixtureCase> cases;
    for (const std::string& name : f.names()) {
        const std::string suffix = ".packed";
        if (name.size() < suffix.size() || !name.ends_with(suffix)) continue;
        const std::string p = name.substr(0, name.size() - suffix.size());  // ....bs64.sq
        const std::size_t d1 = p.find('.'), d2 = p.find('.', d1 + 1), d3 = p.find('.', d2 + 1),
                          d4 = p.find('.', d3 + 1);
        QLS_CHECK(FormatError, d4 != std::string::npos, f.path().string(), ": key '", name,
                  "' is not INPUT.DTYPE.TYPE.bsN.sq|dq.packed");
        FixtureCase c;
        c.name = p;
        c.input = p.substr(0, d2) + ".input";
        c.type = p.substr(d2 + 1, d3 - d2 - 1) == "fp4" ? QuantType::FP4 : QuantType::NF4;
        c.blocksize = std::stoi(p.substr(d3 + 3, d4 - d3 - 3));
        c.nested = p.substr(d4 + 1) == "dq";
        c.packed = name;
        c.absmax = p + (c.nested ? ".absmax_q" : ".absmax");
        if (c.nested) {
            c.nested_absmax = p + ".nested_absmax";
            c.nested_code = p + ".nested_code";
            c.offset = p + ".offset";
        }
        if (f.contains(p + ".dequant")) c.dequant = p + ".dequant";
        cases.push_back(c);
    }
    return cases;
}

// bnb_reference.safetensors: a 256x512 input, blocksize 64, fields PREFIX_FIELD.
inline std::vector<FixtureCase> reference_fixture_cases() {
    std::vector<FixtureCase> cases;
    auto add = [&](const std::string& p, const std::string& input, QuantType type, bool nested) {
        FixtureCase c;
        c.name = p;
        c.input = input;
        c.type = type;
        c.nested = nested;
        c.packed = p + "_packed";
        c.dequant = p + "_dequant";
        if (!nested) {
            c.absmax = p + "_absmax";
        } else {
            c.absmax = p + "_absmax_q";
            c.nested_absmax = p + "_nested_absmax";
            c.nested_code = p + "_nested_code";
            c.offset = p + "_offset";
            c.absmax_dequant = p + "_absmax_dequant";
        }
        cases.push_back(c);
    };
    add("nf4", "input_f32", QuantType::NF4, false);
    add("fp4", "input_f32", QuantType::FP4, false);
    add("bf16_nf4", "input_bf16", QuantType::NF4, false);
    add("nf4_dq", "input_f32", QuantType::NF4, true);
    add("bf16_nf4_dq", "input_bf16", QuantType::NF4, true);
    return cases;
}

template <typename T>
std::vector<T> fixture_values(const SafetensorsFile& f, const std::string& name) {
    const TensorView& t = f.tensor(name);
    QLS_CHECK(FormatError, t.data.size() % sizeof(T) == 0, f.path().string(), ": tensor '", name, "' holds ",
              t.data.size(), " bytes, not whole values of ", sizeof(T));
    std::vector<T> out(t.data.size() / sizeof(T));
    std::memcpy(out.data(), t.data.data(), t.data.size());
    return out;
}

// The fixture's own quantized state, as a checkpoint would hold it.
inline Quantized4bit fixture_quantized(const SafetensorsFile& f, const FixtureCase& c) {
    const TensorView& in = f.tensor(c.input);
    Quantized4bit q;
    q.type = c.type;
    q.blocksize = c.blocksize;
    q.dtype = in.dtype;
    q.shape = in.shape;
    q.quant_map = quant_values(c.type);
    q.packed = fixture_values<std::uint8_t>(f, c.packed);
    if (!c.nested) {
        q.absmax = fixture_values<float>(f, c.absmax);
        return q;
    }
    NestedAbsmax nested;
    nested.codes = fixture_values<std::uint8_t>(f, c.absmax);
    nested.absmax = fixture_values<float>(f, c.nested_absmax);
    nested.code_map = fixture_values<float>(f, c.nested_code);
    nested.offset = fixture_values<float>(f, c.offset).at(0);
    q.nested = std::move(nested);
    return q;
}

// Quantize the fixture's input on the GPU and compare with bnb bit for bit (a nested case
// with bnb's offset; our own mean, torch's order, equal to bnb's), then dequantize bnb's state.
inline std::vector<std::string> check_fixture_case(const SafetensorsFile& f, const FixtureCase& c) {
    const TensorView& in = f.tensor(c.input);
    const Quantized4bit want = fixture_quantized(f, c);
    const std::optional<float> offset = c.nested ? std::optional<float>(want.nested->offset) : std::nullopt;
    std::vector<std::string> out =
        compare_quantized(gpu_quantize(in, c.type, c.blocksize, c.nested, offset), want);
    if (c.nested) {
        const float mean = gpu_quantize(in, c.type, c.blocksize, true).nested->offset;
        if (std::string s = compare_ulp(mean, *offset, 0, "our mean vs bnb's offset"); !s.empty())
            out.push_back(s);
    }
    if (!c.dequant.empty()) {
        const std::string s = compare_exact(gpu_dequantize(want, in.dtype),
                                            fixture_values<std::uint8_t>(f, c.dequant), "dequant");
        if (!s.empty()) out.push_back(s);
    }
    if (!c.absmax_dequant.empty()) {
        // Every code 15 (NF4 value 1.0) makes each output its block's rebuilt absmax.
        QLS_ASSERT(c.type == QuantType::NF4, c.name, ": the absmax check needs NF4");
        Quantized4bit ones = want;
        std::fill(ones.packed.begin(), ones.packed.end(), std::uint8_t(0xff));
        const std::vector<std::uint8_t> raw = gpu_dequantize(ones, DType::F32);
        std::vector<float> absmax(std::size_t(want.num_blocks()));
        for (std::size_t b = 0; b < absmax.size(); ++b)
            std::memcpy(&absmax[b], raw.data() + 4 * b * std::size_t(c.blocksize), 4);
        const std::string s =
            compare_exact(absmax, fixture_values<float>(f, c.absmax_dequant), "rebuilt absmax");
        if (!s.empty()) out.push_back(s);
    }
    for (std::string& s : out) s = c.name + ": " + s;
    return out;
}

}  // namespace qls::cuda::check
