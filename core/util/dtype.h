// Element types of tensors as the file formats name them (safetensors spelling).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qls {

enum class DType : std::uint8_t { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

std::size_t dtype_size(DType t);
std::string_view dtype_name(DType t);  // "F32", "BF16", ...
std::optional<DType> dtype_from_name(std::string_view name);
bool dtype_is_float(DType t);

}  // namespace qls
