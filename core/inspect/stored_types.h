// How a model's file stores its weights, for "stored as" in `qlora inspect` and on the Model
// page: the tensors' own types, not config.json's torch_dtype, which a GGUF model does not have
// and a converted checkpoint may contradict.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/model/model_weights.h"

namespace qls {

struct StoredType {
    std::string name;  // "BF16", "Q4_1" (GGUF), "NF4 + double quant" (bitsandbytes)
    std::int64_t tensors = 0;
    std::int64_t params = 0;
};

// The types of a loaded model's tensors, the most parameters first.
std::vector<StoredType> stored_types(const ModelWeights& weights);

// "BF16" for one type; "Q4_1 (98.7%), F32 (1.3%)" with each type's share of the parameters.
std::string stored_types_text(const std::vector<StoredType>& types);

}  // namespace qls
