// The device arrays of one bitsandbytes 4-bit weight (formats.md §1.2, §2) as a Quant4View holds
// them: how large each is, and their allocation, for Backend::quantize_weight to fill.
// n weights, B = ceil(n / blocksize) blocks, C = ceil(B / 256) nested blocks.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/backend/buffer.h"
#include "core/backend/linear_weight.h"
#include "core/backend/usage.h"

namespace qls {

class Backend;

struct Quant4Layout {
    std::int64_t packed_bytes = 0;   // ceil(n / 2)
    std::int64_t blocks = 0;         // B: fp32 absmax, or u8 codes when nested
    std::int64_t nested_blocks = 0;  // C fp32 nested absmax; 0 without double quant
    bool nested = false;
};
Quant4Layout quant4_layout(std::int64_t n, int blocksize, bool double_quant);

// What quantize_weight needs beyond its arrays: with double quant, the fp32 first-level absmax
// (B) and the offset (1), each 16-byte aligned, which a device computes before it replaces them
// by codes; 0 without. The same for every backend (the CPU's lie in host memory anyway).
std::int64_t quantize_weight_workspace_bytes(std::int64_t n, int blocksize, bool double_quant);

// The kernels' code -> value table Quant4View::quant_map holds (dequant_values): FP4 builds its
// negatives by sign, so code 8 is -0.0.
std::array<float, 16> quant4_map(QuantType type);

// Allocates the arrays of an n-weight 4-bit tensor, one Buffer each (appended to `storage`, in
// the order and with the names DeviceBaseModel has always used, so accounting is unchanged),
// and returns the view over them with type, blocksize and nested_blocksize set; nothing written.
Quant4View allocate_quant4(Backend& backend, std::vector<Buffer>& storage, std::int64_t n, QuantType type,
                           int blocksize, bool double_quant, Usage usage, const std::string& name);

}  // namespace qls
