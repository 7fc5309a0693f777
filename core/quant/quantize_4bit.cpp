// formats.md §1.2 and §2; bitsandbytes csrc/kernels.cu kQuantizeBlockwise (NF4, FP4),
// functional.py quantize_4bit. The fast path evaluates the decision trees as a branch-free
// count of thresholds exceeded, which equals the trees because the thresholds are sorted.
#include "core/quant/quantize_4bit.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/quant/double_quant.h"
#include "core/util/error.h"
#include "core/util/half.h"
#include "core/util/parallel.h"

namespace qls {
namespace {

constexpr int k_max_blocksize = 4096;

void check_input(const TensorView& input) {
    QLS_CHECK(ConfigError,
              input.dtype == DType::F32 || input.dtype == DType::BF16 || input.dtype == DType::F16,
              "quantize_4bit: input dtype must be F32, BF16 or F16, got ",
              dtype_name(input.dtype));
    const std::int64_t n = input.numel();
    QLS_CHECK(DataError, n > 0, "quantize_4bit: empty tensor of shape ", input.shape);
    QLS_CHECK(DataError,
              input.data.size() == static_cast<std::size_t>(n) * dtype_size(input.dtype),
              "quantize_4bit: shape ", input.shape, " needs ",
              static_cast<std::size_t>(n) * dtype_size(input.dtype), " bytes, view has ",
              input.data.size());
}

// Elements [begin, begin + count) of the input as fp32.
void load_f32(const TensorView& input, std::size_t begin, std::size_t count, float* dst) {
    const std::byte* src = input.data.data() + begin * dtype_size(input.dtype);
    if (input.dtype == DType::F32) {
        std::memcpy(dst, src, count * sizeof(float));
    } else if (input.dtype == DType::BF16) {
        for (std::size_t i = 0; i < count; ++i) {
            std::uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            dst[i] = bf16_to_f32(h);
        }
    } else {
        for (std::size_t i = 0; i < count; ++i) {
            std::uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            dst[i] = f16_to_f32(h);
        }
    }
}

// Eight running maxima vectorize where one would be a reduction the compiler may not reorder;
// max ignores NaN in any order, so the result equals the sequential one.
float block_absmax(const float* x, std::size_t count) {
    std::array<float, 8> m{};
    std::size_t i = 0;
    for (; i + 8 <= count; i += 8)
        for (std::size_t j = 0; j < 8; ++j) m[j] = std::max(m[j], std::fabs(x[i + j]));
    for (; i < count; ++i) m[0] = std::max(m[0], std::fabs(x[i]));
    return *std::max_element(m.begin(), m.end());
}

// codes[i] for i < count (count even); no flushes needed: subnormal s is code 7 either way.
void codes_nf4(const float* x, std::size_t count, float inv, std::uint8_t* codes) {
    const std::array<float, 15>& t = nf4_thresholds();
    for (std::size_t i = 0; i < count; ++i) {
        const float s = x[i] * inv;
        std::uint8_t c = 0;
        for (const float tk : t) c = static_cast<std::uint8_t>(c + (s > tk));
        codes[i] = c;
    }
}

// The sign of a subnormal product decides the FP4 sign bit, so the kernel's .ftz matters here.
void codes_fp4(const float* x, std::size_t count, float inv, std::uint8_t* codes) {
    const std::array<float, 7>& t = fp4_thresholds();
    for (std::size_t i = 0; i < count; ++i) {
        const float s = flush_subnormal(flush_subnormal(x[i]) * inv);
        const float a = std::fabs(s);
        int rank = 0;
        for (const float tk : t) rank += (a > tk);
        // rank -> magnitude code 0,1,6,7,4,5,2,3 without a table lookup.
        const int magnitude = ((9 - rank) & 6) | (rank & 1);
        codes[i] = static_cast<std::uint8_t>(magnitude + (s < 0.0f ? 8 : 0));
    }
}

void pack_codes(const std::uint8_t* codes, std::size_t num_bytes, std::uint8_t* out) {
    for (std::size_t k = 0; k < num_bytes; ++k)
        out[k] = static_cast<std::uint8_t>((codes[2 * k] << 4) | codes[2 * k + 1]);
}

Quantized4bit make_result(const TensorView& input, QuantType type, int blocksize) {
    Quantized4bit q;
    q.type = type;
    q.blocksize = blocksize;
    q.dtype = input.dtype;
    q.shape = input.shape;
    q.quant_map = quant_values(type);
    const std::size_t n = static_cast<std::size_t>(input.numel());
    q.packed.resize((n + 1) / 2);
    q.absmax.resize(static_cast<std::size_t>(q.num_blocks()));
    return q;
}

void finish_double_quant(Quantized4bit& q, bool double_quant, const QuantizeOptions& options) {
    if (!double_quant) return;
    const float offset = options.offset ? *options.offset : absmax_mean(q.absmax);
    q.nested = double_quantize(q.absmax, offset, options.reciprocal);
    q.absmax.clear();
}

}  // namespace

void check_quant_blocksize(int blocksize) {
    QLS_CHECK(ConfigError,
              blocksize >= 32 && blocksize <= k_max_blocksize && std::has_single_bit(
                  static_cast<unsigned>(blocksize)),
              "4-bit quantization: blocksize must be a power of two from 32 to 4096, got ",
              blocksize);
}

Quantized4bit quantize_4bit(const TensorView& input, QuantType type, int blocksize,
                            bool double_quant) {
    return quantize_4bit(input, type, blocksize, double_quant, QuantizeOptions{});
}

Quantized4bit quantize_4bit(const TensorView& input, QuantType type, int blocksize,
                            bool double_quant, const QuantizeOptions& options) {
    check_quant_blocksize(blocksize);
    check_input(input);
    Quantized4bit q = make_result(input, type, blocksize);
    const std::size_t n = static_cast<std::size_t>(input.numel());
    const std::size_t bs = static_cast<std::size_t>(blocksize);
    const std::size_t grain = std::max<std::size_t>(1, 16384 / bs);
    parallel_for(q.absmax.size(), grain, [&](std::size_t first, std::size_t last) {
        alignas(64) float x[k_max_blocksize];
        alignas(64) std::uint8_t codes[k_max_blocksize];
        for (std::size_t b = first; b < last; ++b) {
            const std::size_t begin = b * bs, count = std::min(bs, n - begin);
            load_f32(input, begin, count, x);
            const std::size_t padded = count + (count & 1);  // the zero partner of an odd tail
            if (padded != count) x[count] = 0.0f;
            const float absmax = block_absmax(x, count);
            const float inv = options.reciprocal(absmax);
            if (type == QuantType::NF4)
                codes_nf4(x, padded, inv, codes);
            else
                codes_fp4(x, padded, inv, codes);
            pack_codes(codes, padded / 2, q.packed.data() + begin / 2);
            q.absmax[b] = absmax;
        }
    });
    finish_double_quant(q, double_quant, options);
    return q;
}

Quantized4bit quantize_4bit_ref(const TensorView& input, QuantType type, int blocksize,
                                bool double_quant, const QuantizeOptions& options) {
    check_quant_blocksize(blocksize);
    check_input(input);
    Quantized4bit q = make_result(input, type, blocksize);
    std::vector<float> x = to_f32(input);
    const std::size_t bs = static_cast<std::size_t>(blocksize);
    if (x.size() % 2 != 0) x.push_back(0.0f);
    for (std::size_t i = 0; i < x.size(); ++i) {
        const std::size_t b = i / bs;
        if (i % bs == 0) {
            float absmax = 0.0f;
            for (std::size_t j = i; j < std::min(x.size(), i + bs); ++j)
                absmax = std::max(absmax, std::fabs(x[j]));
            q.absmax[b] = absmax;
        }
        const float inv = options.reciprocal(q.absmax[b]);
        const std::uint8_t code =
            type == QuantType::NF4
                ? quantize_nf4_code(x[i] * inv)
                : quantize_fp4_code(flush_subnormal(flush_subnormal(x[i]) * inv));
        q.packed[i / 2] |= static_cast<std::uint8_t>(i % 2 == 0 ? code << 4 : code);
    }
    finish_double_quant(q, double_quant, options);
    return q;
}

}  // namespace qls
