// The LoRA dropout mask as a pure function of (seed, element index): forward and backward (and
// the CPU and CUDA backends) regenerate the same mask instead of storing it.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define QLS_HOST_DEVICE __host__ __device__
#else
#define QLS_HOST_DEVICE
#endif

namespace qls {

// splitmix64 finalizer: a good 64-bit mix of a counter.
QLS_HOST_DEVICE inline std::uint64_t mix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Inverted dropout factor for element `index`: 0 (dropped) or 1 / (1 - p) (kept).
QLS_HOST_DEVICE inline float dropout_factor(std::uint64_t seed, std::uint64_t index, float p) {
    if (p <= 0.0f) return 1.0f;
    // 24 random bits -> a float in [0, 1) exactly representable.
    float u = static_cast<float>(mix64(seed ^ mix64(index)) >> 40) * (1.0f / 16777216.0f);
    return u < p ? 0.0f : 1.0f / (1.0f - p);
}

}  // namespace qls
