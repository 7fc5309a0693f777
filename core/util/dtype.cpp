#include "core/util/dtype.h"

#include <array>

namespace qls {

namespace {
struct DTypeInfo {
    DType type;
    std::string_view name;
    std::size_t size;
};
constexpr std::array<DTypeInfo, 13> kTypes{{
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},     {DType::I8, "I8", 1},
    {DType::I16, "I16", 2},   {DType::U16, "U16", 2},   {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4},   {DType::U32, "U32", 4},
    {DType::F32, "F32", 4},   {DType::F64, "F64", 8},   {DType::I64, "I64", 8},
    {DType::U64, "U64", 8},
}};
const DTypeInfo& info(DType t) { return kTypes[static_cast<std::size_t>(t)]; }
}  // namespace

std::size_t dtype_size(DType t) { return info(t).size; }
std::string_view dtype_name(DType t) { return info(t).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto& i : kTypes)
        if (i.name == name) return i.type;
    return std::nullopt;
}

bool dtype_is_float(DType t) {
    return t == DType::F16 || t == DType::BF16 || t == DType::F32 || t == DType::F64;
}

}  // namespace qls
