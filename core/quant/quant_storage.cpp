#include "core/quant/quant_storage.h"

#include "core/util/error.h"

namespace qls {

namespace {
// bitsandbytes double-quantizes the absmax in blocks of 256 (formats.md §2, nested_blocksize).
constexpr std::uint64_t kNestedBlock = 256;
}  // namespace

QuantStorage quant_storage(std::int64_t n, int blocksize, bool double_quant) {
    QLS_ASSERT(n > 0 && blocksize > 0, "quant_storage: ", n, " weights, block size ", blocksize);
    const auto un = static_cast<std::uint64_t>(n);
    const std::uint64_t blocks = (un + static_cast<std::uint64_t>(blocksize) - 1) / static_cast<std::uint64_t>(blocksize);
    QuantStorage s;
    s.code_bytes = (un + 1) / 2;
    s.table_bytes = 16 * 4;
    if (double_quant) {
        s.scale_bytes = blocks + (blocks + kNestedBlock - 1) / kNestedBlock * 4;
        s.table_bytes += 256 * 4;
    } else {
        s.scale_bytes = blocks * 4;
    }
    return s;
}

double quant_bits_per_param(std::int64_t n, int blocksize, bool double_quant) {
    const QuantStorage s = quant_storage(n, blocksize, double_quant);
    return 8.0 * static_cast<double>(s.code_bytes + s.scale_bytes) / static_cast<double>(n);
}

std::uint64_t quantized_tensor_bytes(std::int64_t n, int blocksize, bool double_quant) {
    return quant_storage(n, blocksize, double_quant).total_bytes();
}

}  // namespace qls
