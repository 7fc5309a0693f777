// What the memory estimate needs to know about a base model's weights, without their data: for
// each tensor the model uses, its shape, its role and how the folder stores it (a dense dtype,
// or bitsandbytes 4-bit with its block size). It comes from a loaded model's weights or from
// config.json alone, so "will it fit?" is answered for a model that is not downloaded yet: the
// config's dtype and quantization_config say how its files store the tensors.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/io/ggml_type.h"
#include "core/model/llama_config.h"
#include "core/model/model_loader.h"
#include "core/util/dtype.h"
#include "core/util/tensor_view.h"

namespace qls {

struct StoredQuant {
    QuantType type = QuantType::NF4;
    int blocksize = 64;
    bool double_quant = false;
};

struct StoredTensor {
    std::string name;
    Shape shape;  // logical shape, PyTorch order
    bool linear = false;  // q/k/v/o/gate/up/down: the weights 4-bit quantization applies to
    DType dtype = DType::F32;  // dense storage (a GGUF tensor as the fp32 copy the loader makes)
    std::optional<StoredQuant> quant;  // pre-quantized 4-bit
    // A GGUF tensor in a block-quantized type (Weight::gguf_blocks): the type its blocks are in.
    std::optional<GgmlType> gguf_blocks;
};

struct ModelLayout {
    std::filesystem::path path;
    std::string name;
    LlamaConfig config;
    std::vector<StoredTensor> tensors;  // llama_expected_tensors order
    bool config_only = false;           // no weights on disk: described by config.json alone

    const StoredTensor& get(const std::string& name) const;  // FormatError naming a missing one
};

ModelLayout model_layout(const Model& model);
// Every tensor in config.dtype; with a bitsandbytes quantization_config the linear weights in
// its 4-bit format at block size 64, the only one transformers writes.
ModelLayout config_layout(const LlamaConfig& config);

// A folder with config.json but neither model.safetensors nor a sharded index: a model whose
// weights are not downloaded.
bool is_config_only_folder(const std::filesystem::path& path);

// A model folder with weights or a .gguf file (loaded, then described), or a config.json
// (the file, or a folder holding it without weights) described from the config alone.
ModelLayout open_model_layout(const std::filesystem::path& path);

}  // namespace qls
