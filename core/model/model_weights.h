// The tensors of a loaded base model under their Hugging Face names
// (model.layers.N.self_attn.q_proj.weight, ...; formats.md §6.2), whatever file they came
// from: dense views into memory-mapped safetensors, fp32 copies made from GGUF blocks, or
// pre-quantized bitsandbytes 4-bit weights.
#pragma once
#include <map>
#include <memory>
#include <optional>
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
    TensorView view;  // dense data; empty when `quantized` holds the weight
    std::shared_ptr<const std::vector<std::byte>> owned;  // backs `view` when converted in memory
    std::optional<Quantized4bit> quantized;             // pre-quantized 4-bit weight
    std::optional<GgmlType> gguf_type;  // the type a GGUF file stores it as; `view` holds it as fp32
    // A 2-D tensor a GGUF file stores in a block-quantized type (Q4_0, Q4_K, Q8_0, ...): the
    // file's own blocks, rows in the same (Hugging Face) order as `view`, for a base trained in
    // the file's quantization (BaseWeightsOptions::gguf_blocks). Null otherwise.
    std::shared_ptr<const std::vector<std::byte>> gguf_blocks;

    bool is_quantized() const { return quantized.has_value(); }
};

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
