// ggml tensor element types as GGUF stores them (formats.md §9.1 "ggml type ids"; block sizes
// and bytes per block as ggml's src/ggml.c type_traits and src/ggml-common.h define them).
#pragma once
#include <cstdint>
#include <string_view>

namespace qls {

enum class GgmlType : std::uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
    IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
    TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39, NVFP4 = 40, Q1_0 = 41, Q2_0 = 42,
};

struct GgmlTypeInfo {
    std::string_view name;     // "Q4_K"
    std::uint32_t block_size;  // elements per block
    std::uint32_t type_size;   // bytes per block
};

// nullptr for ids ggml does not define (4, 5, 31-33 and 36-38 were removed; >= 43 unknown).
const GgmlTypeInfo* ggml_type_info(std::uint32_t id);
inline const GgmlTypeInfo* ggml_type_info(GgmlType t) {
    return ggml_type_info(static_cast<std::uint32_t>(t));
}

}  // namespace qls
