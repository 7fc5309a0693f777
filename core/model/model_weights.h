// The tensors of a loaded base model under their Hugging Face names
// (model.layers.N.self_attn.q_proj.weight, ...; formats.md §6.2), whatever file they came
// from: dense views into memory-mapped safetensors, GGUF tensors as the file stores them
// (decoded to fp32 only when asked, one at a time), or pre-quantized bitsandbytes 4-bit weights.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/io/ggml_type.h"
#include "core/model/llama_config.h"
#include "core/quant/quantized_tensor.h"
#include "core/util/mapped_file.h"
#include "core/util/tensor_view.h"

namespace qls {

enum class ModelFormat : std::uint8_t { HfSafetensors, BnbPrequantized, Gguf };

struct Weight {
    Shape shape;      // logical shape, PyTorch order ([out, in] for a linear weight)
    // Dense data; empty when `quantized` holds the weight, and without data (dtype F32 and the
    // shape only) when `gguf_data` does: read values through dense_values().
    TensorView view;
    std::shared_ptr<const std::vector<std::byte>> owned;  // backs `view` or `gguf_data` when made in memory
    std::optional<Quantized4bit> quantized;             // pre-quantized 4-bit weight
    std::optional<GgmlType> gguf_type;  // the type a GGUF file stores it as; its values are fp32
    // A GGUF tensor stored in another type than F32: the file's bytes for it, rows in Hugging
    // Face order (a view of the mapping, or of `owned` when the rows had to be reordered).
    // dense_values() decodes them when asked, so a loaded GGUF never sits in memory as fp32.
    std::span<const std::byte> gguf_data;
    // A 2-D tensor in a block-quantized type (Q4_0, Q4_K, Q8_0, ...): `gguf_data` holds the
    // blocks a base can be trained in, as the file quantized them
    // (BaseWeightsOptions::gguf_blocks).
    bool gguf_blocks = false;

    bool is_quantized() const { return quantized.has_value(); }
};

// A weight's values as a dense view, and what keeps them alive while the caller reads them: the
// weight's own view, or a GGUF tensor decoded to fp32 now (ggml's dequantize_row_*). Not for
// pre-quantized 4-bit weights (`quantized`), which have no dense values stored.
struct DenseValues {
    TensorView view;
    std::shared_ptr<const std::vector<std::byte>> owned;
};
DenseValues dense_values(const Weight& w);

// The block-quantized GGUF types a base's linear weights are trained in ("Q4_K, Q6_K", sorted;
// empty: none), and whether that is every linear weight (else the others follow
// BaseWeightsOptions::quant).
struct KeptGgufBlocks {
    std::string types;
    bool all = true;
};

struct ModelWeights {
    ModelFormat format = ModelFormat::HfSafetensors;
    std::vector<std::shared_ptr<const MappedFile>> files;  // keep the views' mappings alive
    std::map<std::string, Weight> tensors;

    // Throws FormatError naming the tensor when it is missing.
    const Weight& get(const std::string& name) const;
    bool contains(const std::string& name) const { return tensors.count(name) != 0; }
};

}  // namespace qls
