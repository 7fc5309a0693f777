// Seeded orders for the validation split and the per-epoch shuffle.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace qls {

// Indices 0..n-1 in an order fixed by `seed` alone: Fisher-Yates over std::mt19937_64 (whose
// output the standard fixes) with our own unbiased bounded draw, so the order is the same with
// every standard library, unlike std::shuffle.
std::vector<std::size_t> seeded_permutation(std::size_t n, std::uint64_t seed);

// Mixes a seed with a second value (an epoch) into a new seed (SplitMix64 finalizer).
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t value);

}  // namespace qls
