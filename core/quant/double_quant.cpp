// formats.md §2; bitsandbytes functional.py quantize_4bit (compress_statistics) and
// kernels.cu kQuantizeBlockwise with the dynamic code, blocksize 256.
#include "core/quant/double_quant.h"

#include <algorithm>
#include <cmath>

#include "core/quant/torch_cuda_mean.h"
#include "core/util/error.h"

namespace qls {
namespace {
constexpr int k_nested_blocksize = 256;
}

float absmax_mean(std::span<const float> absmax) {
    QLS_CHECK(DataError, !absmax.empty(), "absmax_mean: no blocks");
    return torch_cuda_mean(absmax);
}

NestedAbsmax double_quantize(std::span<const float> absmax, float offset,
                             ReciprocalFn reciprocal) {
    const std::array<float, 256>& map = dynamic_signed_map();
    NestedAbsmax nested;
    nested.offset = offset;
    nested.blocksize = k_nested_blocksize;
    nested.code_map.assign(map.begin(), map.end());
    nested.codes.resize(absmax.size());
    const std::size_t bs = k_nested_blocksize;
    const std::size_t num_blocks = (absmax.size() + bs - 1) / bs;
    nested.absmax.resize(num_blocks);
    std::vector<float> centered(bs);
    for (std::size_t b = 0; b < num_blocks; ++b) {
        const std::size_t begin = b * bs, end = std::min(absmax.size(), begin + bs);
        float block_max = 0.0f;
        for (std::size_t i = begin; i < end; ++i) {
            centered[i - begin] = absmax[i] - offset;
            block_max = std::max(block_max, std::fabs(centered[i - begin]));
        }
        nested.absmax[b] = block_max;
        const float inv = reciprocal(block_max);
        for (std::size_t i = begin; i < end; ++i)
            nested.codes[i] =
                quantize_dynamic_code(map, flush_subnormal(centered[i - begin] * inv));
    }
    return nested;
}

std::vector<float> dequantize_nested(const NestedAbsmax& nested) {
    QLS_CHECK(DataError, nested.code_map.size() == 256, "nested absmax: code map has ",
              nested.code_map.size(), " entries, expected 256");
    QLS_CHECK(DataError, nested.blocksize > 0, "nested absmax: blocksize ", nested.blocksize);
    const std::size_t bs = static_cast<std::size_t>(nested.blocksize);
    QLS_CHECK(DataError, nested.absmax.size() == (nested.codes.size() + bs - 1) / bs,
              "nested absmax: ", nested.codes.size(), " codes need ",
              (nested.codes.size() + bs - 1) / bs, " block scales, got ", nested.absmax.size());
    std::vector<float> out(nested.codes.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
        const float scaled = nested.code_map[nested.codes[i]] * nested.absmax[i / bs];
        out[i] = scaled + nested.offset;
    }
    return out;
}

}  // namespace qls
