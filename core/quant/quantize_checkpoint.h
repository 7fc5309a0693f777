// Turns a dense checkpoint into a pre-quantized bitsandbytes 4-bit one, as transformers'
// save_pretrained of a model loaded with BitsAndBytesConfig(load_in_4bit=True) writes it
// (formats.md §3): the linear weights replaced by their bnb tensors, everything else kept,
// config.json gaining the 5.17 quantization_config. Behind `qlora quantize` and the GUI.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "core/quant/quantized_tensor.h"
#include "core/util/progress.h"

namespace qls {

struct QuantizeCheckpointOptions {
    QuantType type = QuantType::NF4;
    int blocksize = 64;
    bool double_quant = false;
    // ECMAScript regex searched in tensor names; only matching tensors are quantized.
    std::optional<std::string> tensor_regex;
    std::string compute_dtype = "bfloat16";  // bnb_4bit_compute_dtype written to config.json
};

// Called after each quantized tensor; returning false cancels (nothing is written).
using QuantizeProgress = ProgressFn;

struct QuantizeSummary {
    bool cancelled = false;
    std::size_t quantized = 0;  // tensors replaced by 4-bit ones
    std::size_t kept = 0;       // tensors written unchanged
    std::uint64_t bytes_in = 0;   // data bytes of the quantized tensors before
    std::uint64_t bytes_out = 0;  // and of their bnb tensors after
};

// `input`: a model folder (its linear weights are quantized; config, tokenizer and generation
// files come along) or a .safetensors file (every 2-D F32/BF16/F16 tensor is). `output`: a
// folder, written atomically, holding model.safetensors (+ config.json etc. for a model).
// Throws ConfigError for bad options or an already quantized model, FormatError/IoError from
// reading and writing.
QuantizeSummary quantize_checkpoint(const std::filesystem::path& input, const std::filesystem::path& output,
                                    const QuantizeCheckpointOptions& options, const QuantizeProgress& progress = {});

}  // namespace qls
