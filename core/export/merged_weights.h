// The weights of base model + LoRA adapter merged, W' = W + scaling · B·A (formats.md §5 "Math"),
// one tensor at a time in fp32, for the merged safetensors and GGUF exports. The base is either
// the original weights or what the 4-bit base the adapter was trained against dequantizes to,
// which is what the adapter learned to correct (peft's merge on a Linear4bit does the same).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/model/device_base_model.h"
#include "core/model/lora_config.h"
#include "core/model/model_loader.h"
#include "core/quant/quantized_tensor.h"

namespace qls {

struct MergeBase {
    enum class Kind : std::uint8_t { Original, Dequantized4bit };
    Kind kind = Kind::Original;
    // Dequantized4bit on a dense base: how the trainer quantized it. A pre-quantized 4-bit base
    // is always dequantized from its stored codes, whatever the kind.
    QuantType quant_type = QuantType::NF4;
    int blocksize = 64;
    bool double_quant = true;
    // Weights the trainer kept in a GGUF's own blocks (BaseWeightsOptions::gguf_blocks) are
    // what those blocks decode to, the loader's values, never re-quantized.
    bool gguf_blocks = false;

    static MergeBase original() { return {}; }
    // The base a run with these options trained against: its 4-bit rounding, or the original
    // weights when it kept them 16-bit.
    static MergeBase trained(const BaseWeightsOptions& o) {
        if (!o.quant) return original();
        return {Kind::Dequantized4bit, *o.quant, o.blocksize, o.double_quant, o.gguf_blocks};
    }
};

// Throws ConfigError naming the module when the adapter targets a weight the model lacks or
// whose [out, in] differs from the pair's.
void check_adapter_fits(const Model& model, const LoraAdapter& adapter);

// w (out, in) += scaling · B (out, r) · A (r, in), the product accumulated in fp32 like
// peft's get_delta_weight, then added. Parallel over rows.
void add_lora_delta(std::span<float> w, const LoraPair& pair, double scaling);

// The fp32 values of tensor `name` (an HF name of model.weights), PyTorch order: linears with
// their LoRA delta added (when `adapter` has the module), everything else converted as is.
std::vector<float> merged_tensor(const Model& model, const LoraAdapter* adapter, const std::string& name,
                                 const MergeBase& base);

// The model's tensor names in checkpoint order (embeddings, layers, norm, lm_head when untied).
std::vector<std::string> model_tensor_names(const Model& model);

}  // namespace qls
