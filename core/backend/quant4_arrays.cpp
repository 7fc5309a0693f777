#include "core/backend/quant4_arrays.h"

#include "core/backend/backend.h"
#include "core/quant/dequantize_4bit.h"
#include "core/quant/quant_tables.h"

namespace qls {

namespace {
// bitsandbytes double-quantizes the absmax in blocks of 256 (formats.md §2).
constexpr std::int64_t kNestedBlock = 256;

std::int64_t align16(std::int64_t bytes) {
    return (bytes + 15) / 16 * 16;
}
}  // namespace

Quant4Layout quant4_layout(std::int64_t n, int blocksize, bool double_quant) {
    QLS_ASSERT(n > 0 && blocksize > 0, "quant4_layout: ", n, " weights, block size ", blocksize);
    Quant4Layout l;
    l.packed_bytes = (n + 1) / 2;
    l.blocks = (n + blocksize - 1) / blocksize;
    l.nested = double_quant;
    l.nested_blocks = double_quant ? (l.blocks + kNestedBlock - 1) / kNestedBlock : 0;
    return l;
}

std::int64_t quantize_weight_workspace_bytes(std::int64_t n, int blocksize, bool double_quant) {
    if (!double_quant) return 0;
    return align16(quant4_layout(n, blocksize, true).blocks * 4) + 16;
}

std::array<float, 16> quant4_map(QuantType type) {
    Quantized4bit q;
    q.type = type;
    q.quant_map = quant_values(type);
    return dequant_values(q);
}

Quant4View allocate_quant4(Backend& backend, std::vector<Buffer>& storage, std::int64_t n, QuantType type,
                           int blocksize, bool double_quant, Usage usage, const std::string& name) {
    const Quant4Layout l = quant4_layout(n, blocksize, double_quant);
    auto array = [&](DType dtype, std::int64_t count, const std::string& what) {
        const Buffer& b = storage.emplace_back(
            backend.allocate(static_cast<std::size_t>(count) * dtype_size(dtype), usage, what));
        return b.view(0, dtype, {count});
    };
    Quant4View v;
    v.type = type;
    v.blocksize = blocksize;
    v.nested_blocksize = kNestedBlock;
    v.packed = array(DType::U8, l.packed_bytes, name);
    v.quant_map = array(DType::F32, 16, name + " quant_map");
    if (double_quant) {
        v.absmax_codes = array(DType::U8, l.blocks, name + " absmax");
        v.nested_absmax = array(DType::F32, l.nested_blocks, name + " absmax");
        v.code_map = array(DType::F32, 256, name + " code map");
    } else {
        v.absmax = array(DType::F32, l.blocks, name + " absmax");
    }
    return v;
}

}  // namespace qls
