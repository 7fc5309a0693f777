// Pre-quantized bitsandbytes 4-bit weights in a safetensors checkpoint (formats.md §3), as
// bnb's QuantState.as_dict(packed=True) / from_dict write and read them: P.weight (packed
// U8), P.weight.absmax, P.weight.quant_map, P.weight.nested_absmax, P.weight.nested_quant_map
// and P.weight.quant_state.bitsandbytes__nf4|__fp4 (UTF-8 JSON from Python json.dumps).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/io/named_tensor.h"
#include "core/io/safetensors_checkpoint.h"
#include "core/quant/quantized_tensor.h"

namespace qls {

// "model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__nf4" -> "model.layers.0.mlp.up_proj.weight".
std::optional<std::string> bnb_weight_of_quant_state(std::string_view tensor_name);

// The names of every tensor that bnb stores for `weight_name`, the packed weight included.
std::vector<std::string> bnb_tensor_names(const std::string& weight_name, QuantType type, bool nested);

// Build the 4-bit weight `weight_name` from its tensors in `ckpt`, validating every size
// against the quant_state's shape and blocksize. Throws FormatError naming file and tensor.
Quantized4bit read_bnb_weight(const SafetensorsCheckpoint& ckpt, const std::string& weight_name);

// The tensors transformers writes for `q` under `weight_name`: exactly its keys, dtypes,
// shapes and quant_state JSON bytes.
std::vector<OwnedTensor> bnb_serialize(const std::string& weight_name, const Quantized4bit& q);

// The packed quant_state JSON, byte for byte as Python json.dumps prints bnb's dict.
std::string bnb_quant_state_json(const Quantized4bit& q);

// A double as Python's json.dumps prints it: repr() (shortest round trip, exponent outside
// 1e-4 <= |v| < 1e16), "NaN", "Infinity", "-Infinity".
std::string python_float_repr(double v);

}  // namespace qls
