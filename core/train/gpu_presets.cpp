#include "core/train/gpu_presets.h"

#include <algorithm>
#include <cctype>

#include "core/util/error.h"

namespace qls {

// The reserve: creating a CUDA context takes about 0.3 GB with lazy module loading and 0.7 GB
// without (libtorch measured 287 MB vs 667 MB, pytorch/pytorch#86509; lazy loading is the
// default since CUDA 12.2), and cuBLAS' handle and workspace come on top. 1 GiB covers both
// with a little room for allocator rounding, so "fits" means fits on the card, not on paper.
std::int64_t GpuTarget::usable_bytes() const {
    return std::max<std::int64_t>(0, total_bytes - kCudaContextReserveBytes);
}

namespace {
constexpr std::int64_t kGiB = std::int64_t(1) << 30;

// Lower-case letters and digits only, without a trailing "gb": "A100-80GB" -> "a10080".
std::string normalized(std::string_view s) {
    std::string out;
    for (char ch : s)
        if (std::isalnum(static_cast<unsigned char>(ch))) out += char(std::tolower(static_cast<unsigned char>(ch)));
    if (out.ends_with("gb")) out.resize(out.size() - 2);
    return out;
}
}  // namespace

const std::vector<GpuTarget>& gpu_presets() {
    // Marketed sizes; the T4 (Turing, compute capability 7.5) is the one without bf16.
    static const std::vector<GpuTarget> presets = {
        {"t4", "T4 16 GB", 16 * kGiB, false},
        {"l4", "L4 24 GB", 24 * kGiB, true},
        {"rtx3090", "RTX 3090 24 GB", 24 * kGiB, true},
        {"rtx4090", "RTX 4090 24 GB", 24 * kGiB, true},
        {"a100-40", "A100 40 GB", 40 * kGiB, true},
        {"a100-80", "A100 80 GB", 80 * kGiB, true},
        {"h100", "H100 80 GB", 80 * kGiB, true},
        {"h200", "H200 141 GB", 141 * kGiB, true},
    };
    return presets;
}

GpuTarget parse_gpu(std::string_view spec) {
    const std::string want = normalized(spec);
    std::string ids;
    for (const GpuTarget& g : gpu_presets()) {
        if (normalized(g.id) == want) return g;
        ids += (ids.empty() ? "" : ", ") + g.id;
    }
    throw ConfigError(str_cat("unknown GPU '", spec, "': expected one of ", ids));
}

GpuTarget detected_gpu(std::string name, std::int64_t total_bytes, bool bf16) {
    return {"detected", std::move(name), total_bytes, bf16};
}

}  // namespace qls
