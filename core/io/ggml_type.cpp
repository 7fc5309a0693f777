#include "core/io/ggml_type.h"

#include <array>

namespace qls {

namespace {
constexpr std::uint32_t QK_K = 256;

// Indexed by type id; an empty name marks an id ggml does not define.
constexpr std::array<GgmlTypeInfo, 43> kTypes = {{
    {"F32", 1, 4},          {"F16", 1, 2},         {"Q4_0", 32, 18},      {"Q4_1", 32, 20},
    {"", 0, 0},             {"", 0, 0},            {"Q5_0", 32, 22},      {"Q5_1", 32, 24},
    {"Q8_0", 32, 34},       {"Q8_1", 32, 36},      {"Q2_K", QK_K, 84},    {"Q3_K", QK_K, 110},
    {"Q4_K", QK_K, 144},    {"Q5_K", QK_K, 176},   {"Q6_K", QK_K, 210},   {"Q8_K", QK_K, 292},
    {"IQ2_XXS", QK_K, 66},  {"IQ2_XS", QK_K, 74},  {"IQ3_XXS", QK_K, 98}, {"IQ1_S", QK_K, 50},
    {"IQ4_NL", 32, 18},     {"IQ3_S", QK_K, 110},  {"IQ2_S", QK_K, 82},   {"IQ4_XS", QK_K, 136},
    {"I8", 1, 1},           {"I16", 1, 2},         {"I32", 1, 4},         {"I64", 1, 8},
    {"F64", 1, 8},          {"IQ1_M", QK_K, 56},   {"BF16", 1, 2},        {"", 0, 0},
    {"", 0, 0},             {"", 0, 0},            {"TQ1_0", QK_K, 54},   {"TQ2_0", QK_K, 66},
    {"", 0, 0},             {"", 0, 0},            {"", 0, 0},            {"MXFP4", 32, 17},
    {"NVFP4", 64, 36},      {"Q1_0", 128, 18},     {"Q2_0", 64, 18},
}};
}  // namespace

const GgmlTypeInfo* ggml_type_info(std::uint32_t id) {
    if (id >= kTypes.size() || kTypes[id].name.empty()) return nullptr;
    return &kTypes[id];
}

}  // namespace qls
