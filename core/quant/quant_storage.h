// What one tensor costs in bitsandbytes' 4-bit layout (formats.md §1.2 and §2), and from it the
// one bits-per-parameter figure the inspector table, its totals, the Model page and
// `qlora inspect` all show.
#pragma once
#include <cstdint>

namespace qls {

// n weights, B = ceil(n / blocksize) blocks, G = ceil(B / 256) nested groups
struct QuantStorage {
    std::uint64_t code_bytes = 0;   // ceil(n/2): two 4-bit codes a byte, an odd n pads the last
    std::uint64_t scale_bytes = 0;  // fp32 absmax (B); with double quant u8 codes (B) + fp32 nested absmax (G)
    std::uint64_t table_bytes = 0;  // fp32 quant_map (16); with double quant + fp32 nested map (256)

    // Every byte the tensor's arrays take: what bitsandbytes writes to a checkpoint and what
    // DeviceBaseModel uploads.
    std::uint64_t total_bytes() const { return code_bytes + scale_bytes + table_bytes; }
};

QuantStorage quant_storage(std::int64_t n, int blocksize, bool double_quant);

// Bits per weight: 8 (code_bytes + scale_bytes) / n, so the per-block costs count with their
// padding (a last partial block's whole absmax, a last partial nested group's whole fp32).
// Not counted: the code tables, constants of the format that do not grow with the tensor
// (1,088 bytes, 0.0005 bits/param on a 4096 x 4096 weight), and the double-quant offset, one
// scalar the quant_state JSON carries beside the shape and block size. At block size 64:
// 4 + 32/64 = 4.5 without double quant, 4 + 8/64 + 32/(64 * 256) = 4.127 with it.
double quant_bits_per_param(std::int64_t n, int blocksize, bool double_quant);

// quant_storage(n, blocksize, double_quant).total_bytes()
std::uint64_t quantized_tensor_bytes(std::int64_t n, int blocksize, bool double_quant);

}  // namespace qls
