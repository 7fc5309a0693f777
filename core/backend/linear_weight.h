// A frozen base linear layer as a backend holds it: dense 16/32-bit, bitsandbytes 4-bit
// (formats.md §1-2) with plain or double-quantized absmax, or a GGUF file's own quantized
// blocks (formats.md §9.2). A quantized base is never written.
#pragma once
#include <cstdint>
#include <optional>

#include "core/backend/tensor.h"
#include "core/io/ggml_type.h"
#include "core/quant/quantized_tensor.h"

namespace qls {

struct Quant4View {
    QuantType type = QuantType::NF4;
    std::int64_t blocksize = 64;
    Tensor packed;     // U8 (out * in / 2), two codes per byte, even element in the high nibble
    Tensor quant_map;  // F32 (16)
    Tensor absmax;     // F32 (blocks) when not nested
    // Double quantization: absmax[b] = code_map[codes[b]] * nested_absmax[b / nested_blocksize]
    // + offset.
    Tensor absmax_codes;   // U8 (blocks)
    Tensor nested_absmax;  // F32 (ceil(blocks / nested_blocksize))
    Tensor code_map;       // F32 (256)
    float offset = 0.0f;
    std::int64_t nested_blocksize = 256;

    bool nested() const { return !absmax_codes.empty(); }
};

// A GGUF base kept in its own quantization (Q4_0, Q4_K, Q8_0, ...), so training sees exactly the
// weights the file holds instead of a second, NF4 rounding of them: `out` rows of `in` values,
// each row a whole number of the type's blocks, rows in Hugging Face order.
struct GgmlBlocksView {
    GgmlType type = GgmlType::Q8_0;
    Tensor blocks;  // U8 (out * in / block_size * type_size)
};

struct LinearWeight {
    std::int64_t in = 0, out = 0;
    Tensor dense;                    // (out, in) F32/BF16/F16 when not quantized
    std::optional<Quant4View> quant; // when bitsandbytes 4-bit
    std::optional<GgmlBlocksView> ggml;  // when in a GGUF file's own blocks
    Tensor bias;                     // (out) or empty (Qwen2 q/k/v have one)

    bool quantized() const { return quant.has_value() || ggml.has_value(); }
};

}  // namespace qls
