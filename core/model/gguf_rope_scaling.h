// Llama-3 RoPE scaling recovered from a GGUF's rope_freqs.weight (formats.md §9.3, §6.3).
// llama.cpp's converter does not store factor, low/high_freq_factor and the original context
// length; it stores one divisor per frequency. Only the ratios original/low and original/high
// shape those divisors, so low_freq_factor is taken as 1 and the rest solved from the
// divisors, then checked by recomputing every divisor from the result.
#pragma once
#include <cstdint>
#include <optional>
#include <span>

#include "core/model/llama_config.h"

namespace qls {

// nullopt when no llama3 parameters reproduce `divisors` (rope_freqs.weight, head_dim / 2
// values). All divisors 1 give RopeType::Default, which rotates identically.
std::optional<RopeScaling> llama3_scaling_from_rope_freqs(std::span<const float> divisors,
                                                          double rope_theta, std::int64_t head_dim);

// The divisors llama.cpp's converter writes for `s` (formats.md §9.3), in double precision.
double llama3_rope_divisor(const RopeScaling& s, double wavelength);

}  // namespace qls
