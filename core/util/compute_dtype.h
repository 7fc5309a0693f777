// The compute dtype of a run (the precision policy, backend.h "Precision"): what activations
// and dequantized weights are stored in. "fp32", "bf16" or "fp16" as users and run.json spell it.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "core/util/dtype.h"

namespace qls {

// "fp32" -> F32, "bf16" -> BF16, "fp16" -> F16; nullopt for anything else ("auto" included).
std::optional<DType> parse_compute_dtype(std::string_view name);
// F32 -> "fp32", BF16 -> "bf16", F16 -> "fp16".
std::string compute_dtype_name(DType t);
// Round an fp32 value to the storage of `t` and back: what storing it in that dtype keeps.
float round_to(DType t, float v);
// The unit roundoff of `t` (half the distance from 1 to the next value): 2^-24, 2^-8, 2^-11.
double unit_roundoff(DType t);

}  // namespace qls
