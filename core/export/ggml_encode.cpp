// ggml src/ggml-quants.c quantize_row_q8_0_ref and src/ggml.c fp32 -> f16 / bf16 (formats.md §9.2).
#include "core/export/ggml_encode.h"

#include <cmath>
#include <cstring>

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

bool ggml_can_encode(GgmlType type) {
    return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16 || type == GgmlType::Q8_0;
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
              " (supported: F32, F16, BF16, Q8_0)");
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
        case GgmlType::Q8_0: {
            QLS_CHECK(ConfigError, row_length % 32 == 0, "Q8_0 needs rows of a multiple of 32 values, got ",
                      row_length);
            const std::size_t blocks = n / 32;
            out.resize(blocks * kQ8_0BlockBytes);
            parallel_for(blocks, kGrain / 32, [&](std::size_t b, std::size_t e) {
                for (std::size_t i = b; i < e; ++i)
                    quantize_block_q8_0(std::span<const float, 32>(values.data() + i * 32, 32),
                                        out.data() + i * kQ8_0BlockBytes);
            });
            break;
        }
        default:
            break;
    }
    return out;
}

}  // namespace qls
