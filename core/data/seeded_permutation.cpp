#include "core/data/seeded_permutation.h"

#include <numeric>
#include <random>

namespace qls {

std::vector<std::size_t> seeded_permutation(std::size_t n, std::uint64_t seed) {
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::mt19937_64 rng(seed);
    for (std::size_t i = n; i > 1; --i) {
        // Uniform in [0, i): reject the top partial range of 2^64 values.
        const std::uint64_t bound = i;
        const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % bound;
        std::uint64_t x;
        do x = rng(); while (x >= limit);
        std::swap(order[i - 1], order[std::size_t(x % bound)]);
    }
    return order;
}

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t value) {
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (value + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

}  // namespace qls
