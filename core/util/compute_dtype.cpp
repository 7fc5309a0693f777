#include "core/util/compute_dtype.h"

#include "core/util/error.h"
#include "core/util/half.h"

namespace qls {

std::optional<DType> parse_compute_dtype(std::string_view name) {
    if (name == "fp32") return DType::F32;
    if (name == "bf16") return DType::BF16;
    if (name == "fp16") return DType::F16;
    return std::nullopt;
}

std::string compute_dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "fp32";
        case DType::BF16: return "bf16";
        case DType::F16: return "fp16";
        default: QLS_ASSERT(false, "not a compute dtype: ", dtype_name(t));
    }
    return {};
}

float round_to(DType t, float v) {
    switch (t) {
        case DType::BF16: return bf16_to_f32(f32_to_bf16(v));
        case DType::F16: return f16_to_f32(f32_to_f16(v));
        default: return v;
    }
}

double unit_roundoff(DType t) {
    switch (t) {
        case DType::BF16: return 0x1p-8;
        case DType::F16: return 0x1p-11;
        default: return 0x1p-24;
    }
}

}  // namespace qls
