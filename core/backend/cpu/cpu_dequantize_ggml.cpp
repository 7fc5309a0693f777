// A GGUF base's own blocks -> fp32, row by row with ggml's dequantize_row_* arithmetic
// (core/io/ggml_dequant), in parallel over rows.
#include <algorithm>

#include "core/backend/cpu/cpu_ops.h"
#include "core/io/ggml_dequant.h"
#include "core/util/parallel.h"

namespace qls::cpu {

void dequantize_ggml(const GgmlBlocksView& g, std::int64_t out_rows, std::int64_t in, float* out) {
    const GgmlTypeInfo* info = ggml_type_info(g.type);
    const std::size_t row_bytes = std::size_t(in / info->block_size) * info->type_size;
    const std::span<const std::byte> bytes(g.blocks.data, g.blocks.bytes());
    // About 64K values per task, as the GGUF loader splits its dequantization.
    const std::size_t grain = std::max<std::size_t>(1, (std::size_t(1) << 16) / std::size_t(in));
    parallel_for(std::size_t(out_rows), grain, [&](std::size_t first, std::size_t last) {
        ggml_dequantize_row(g.type, bytes.subspan(first * row_bytes, (last - first) * row_bytes),
                            std::span<float>(out + first * std::size_t(in), (last - first) * std::size_t(in)));
    });
}

}  // namespace qls::cpu
