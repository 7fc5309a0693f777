// A weight in bitsandbytes' 4-bit format (formats.md §1-3): packed nibbles, one absmax per
// block, optionally double-quantized ("nested") absmax. This is both what our quantizer
// produces and what a pre-quantized "-bnb-4bit" checkpoint holds.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/util/dtype.h"
#include "core/util/tensor_view.h"

namespace qls {

enum class QuantType : std::uint8_t { NF4, FP4 };

std::string_view quant_type_name(QuantType t);  // "nf4" / "fp4"

// Second-level quantization of the fp32 absmax values (formats.md §2).
struct NestedAbsmax {
    std::vector<std::uint8_t> codes;  // (num_blocks) 8-bit codes into code_map
    std::vector<float> absmax;        // (ceil(num_blocks / blocksize)) per nested block
    std::vector<float> code_map;      // (256) signed dynamic map
    float offset = 0.0f;              // mean of the first-level absmax, subtracted before
    int blocksize = 256;
};

struct Quantized4bit {
    QuantType type = QuantType::NF4;
    int blocksize = 64;
    DType dtype = DType::BF16;  // the original dtype, also the dtype dequantization yields
    Shape shape;                // original logical shape, e.g. [out, in]
    std::vector<std::uint8_t> packed;  // ((n+1)/2) two codes per byte, even element high nibble
    std::vector<float> absmax;         // (num_blocks) fp32; empty when nested
    std::optional<NestedAbsmax> nested;
    std::array<float, 16> quant_map{};  // code -> value table

    std::int64_t numel() const { return qls::numel(shape); }
    std::int64_t num_blocks() const { return (numel() + blocksize - 1) / blocksize; }
};

}  // namespace qls
