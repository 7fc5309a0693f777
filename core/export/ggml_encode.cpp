// ggml src/ggml-quants.c quantize_row_q8_0_ref and src/ggml.c fp32 -> f16 / bf16 (formats.md §9.2);
// the other block types come from ggml_quant_blocks.h.
#include "core/export/ggml_encode.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/export/ggml_quant_blocks.h"
#include "core/util/error.h"
#include "core/util/half.h"
#include "core/util/parallel.h"

namespace qls {

void quantize_block_q8_0(std::span<const float, 32> x, std::byte* out) {
    float amax = 0.0f;
    for (float v : x) amax = std::fmax(amax, std::fabs(v));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const std::uint16_t dh = f32_to_f16(d);
    std::memcpy(out, &dh, 2);
    for (std::size_t j = 0; j < 32; ++j) {
        const auto q = static_cast<std::int8_t>(std::roundf(x[j] * id));
        std::memcpy(out + 2 + j, &q, 1);
    }
}

namespace {

using BlockEncoder = void (*)(const float*, std::byte*);

template <std::size_t N, void (*Fn)(std::span<const float, N>, std::byte*)>
void encode_block(const float* x, std::byte* out) {
    Fn(std::span<const float, N>(x, N), out);
}

// The block encoder of a quantized type, nullptr for the element types and those not written.
BlockEncoder block_encoder(GgmlType type) {
    switch (type) {
        case GgmlType::Q8_0: return encode_block<32, quantize_block_q8_0>;
        case GgmlType::Q5_0: return encode_block<32, quantize_block_q5_0>;
        case GgmlType::Q5_1: return encode_block<32, quantize_block_q5_1>;
        case GgmlType::Q4_K: return encode_block<256, quantize_block_q4_k>;
        case GgmlType::Q5_K: return encode_block<256, quantize_block_q5_k>;
        case GgmlType::Q6_K: return encode_block<256, quantize_block_q6_k>;
        default: return nullptr;
    }
}

}  // namespace

bool ggml_can_encode(GgmlType type) {
    return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16 || block_encoder(type) != nullptr;
}

std::uint32_t ggml_file_type(GgmlType type) {
    switch (type) {
        case GgmlType::F32:
            return 0;
        case GgmlType::F16:
            return 1;
        case GgmlType::Q8_0:
            return 7;
        case GgmlType::BF16:
            return 32;
        default:
            break;
    }
    throw ConfigError(str_cat("no GGUF file type for ggml type ", std::uint32_t(type)));
}

std::vector<std::byte> ggml_encode(GgmlType type, std::span<const float> values, std::int64_t row_length) {
    QLS_CHECK(ConfigError, ggml_can_encode(type), "cannot write ggml type ", ggml_type_info(type)->name,
              " (supported: F32, F16, BF16, Q8_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)");
    QLS_CHECK(ConfigError, row_length > 0 && values.size() % std::size_t(row_length) == 0,
              "ggml encode: ", values.size(), " values are not whole rows of ", row_length);
    const std::size_t n = values.size();
    constexpr std::size_t kGrain = 1 << 16;
    std::vector<std::byte> out;
    switch (type) {
        case GgmlType::F32:
            out.resize(n * 4);
            std::memcpy(out.data(), values.data(), out.size());
            break;
        case GgmlType::F16:
        case GgmlType::BF16: {
            out.resize(n * 2);
            auto* dst = reinterpret_cast<std::uint16_t*>(out.data());
            const bool bf16 = type == GgmlType::BF16;
            parallel_for(n, kGrain, [&](std::size_t b, std::size_t e) {
                for (std::size_t i = b; i < e; ++i)
                    dst[i] = bf16 ? f32_to_bf16(values[i]) : f32_to_f16(values[i]);
            });
            break;
        }
        default: {
            // Blocks never straddle rows (the row length is a multiple of the block size), and
            // each block is encoded on its own, so splitting over blocks is splitting over rows.
            const GgmlTypeInfo& info = *ggml_type_info(type);
            QLS_CHECK(ConfigError, row_length % info.block_size == 0, info.name, " needs rows of a multiple of ",
                      info.block_size, " values, got ", row_length);
            const std::size_t blocks = n / info.block_size;
            out.resize(blocks * info.type_size);
            const BlockEncoder encode = block_encoder(type);
            parallel_for(blocks, std::max<std::size_t>(1, kGrain / info.block_size), [&](std::size_t b, std::size_t e) {
                for (std::size_t i = b; i < e; ++i)
                    encode(values.data() + i * info.block_size, out.data() + i * info.type_size);
            });
            break;
        }
    }
    return out;
}

}  // namespace qls
