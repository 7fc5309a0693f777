#include "core/quant/quantized_tensor.h"

namespace qls {

std::string_view quant_type_name(QuantType t) { return t == QuantType::NF4 ? "nf4" : "fp4"; }

}  // namespace qls
