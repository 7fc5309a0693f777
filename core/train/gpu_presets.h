// The GPUs a user asks "will it fit?" about before buying, renting or downloading: their marketed
// memory, whether they compute in bf16, and the one assumption about how much of that memory a
// run can use. The detected device goes through the same assumption.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qls {

// What the CUDA context, cuBLAS and the allocator keep for themselves (see gpu_presets.cpp).
inline constexpr std::int64_t kCudaContextReserveBytes = std::int64_t(1) << 30;

struct GpuTarget {
    std::string id;    // "rtx4090", as --gpu spells it; "detected" for the device found
    std::string name;  // "RTX 4090 24 GB"
    std::int64_t total_bytes = 0;  // marketed size (GB taken as GiB), or what the device reports
    bool bf16 = true;  // compute capability 8.0+: "auto" computes in bf16, else fp16

    // total_bytes less kCudaContextReserveBytes: the device size the estimate is checked against.
    std::int64_t usable_bytes() const;
};

// T4, L4, RTX 3090, RTX 4090, A100 40/80 GB, H100 80 GB, H200 141 GB.
const std::vector<GpuTarget>& gpu_presets();

// A preset by id, ignoring case, spaces, '-' and '_' and a trailing "gb" ("RTX 4090",
// "a100-80gb"). ConfigError listing the ids for anything else.
GpuTarget parse_gpu(std::string_view spec);

// The device the CUDA runtime reports, under the same reserve.
GpuTarget detected_gpu(std::string name, std::int64_t total_bytes, bool bf16);

}  // namespace qls
