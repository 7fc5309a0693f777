// HF rotate_half RoPE (formats.md §6.3): for i < D/2,
// x'[i] = x[i]·cos − x[i+D/2]·sin, x'[i+D/2] = x[i+D/2]·cos + x[i]·sin.
// The inverse (backward) rotates by −angle.
#include "core/backend/cpu/cpu_ops.h"
#include "core/util/parallel.h"

namespace qls::cpu {

void rope(const RopeArgs& a, bool inverse) {
    const std::int64_t n = a.x.dim(0), heads = a.x.dim(1), d = a.x.dim(2), half = d / 2, pitch = a.x.row_pitch();
    const float sign = inverse ? -1.0f : 1.0f;
    parallel_for(static_cast<std::size_t>(n), 16, [&](std::size_t first, std::size_t last) {
        for (std::size_t t = first; t < last; ++t) {
            const std::int32_t pos = a.positions.ptr<const std::int32_t>()[t];
            const float* cs = a.cos.ptr<const float>() + pos * half;
            const float* sn = a.sin.ptr<const float>() + pos * half;
            for (std::int64_t h = 0; h < heads; ++h) {
                float* x = a.x.ptr<float>() + static_cast<std::int64_t>(t) * pitch + h * d;
                for (std::int64_t i = 0; i < half; ++i) {
                    const float x1 = x[i], x2 = x[i + half], c = cs[i], s = sign * sn[i];
                    x[i] = x1 * c - x2 * s;
                    x[i + half] = x2 * c + x1 * s;
                }
            }
        }
    });
}

}  // namespace qls::cpu
