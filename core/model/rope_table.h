// RoPE frequencies and cos/sin tables as transformers computes them in fp32
// (formats.md §6.3: default, linear and llama3 rope types).
#pragma once
#include <cstdint>
#include <vector>

#include "core/model/llama_config.h"

namespace qls {

// (head_dim / 2) inverse frequencies, fp32 arithmetic as HF's _compute_*_rope_parameters.
std::vector<float> rope_inv_freq(const LlamaConfig& c);

struct RopeTable {
    std::int64_t positions = 0, half = 0;
    std::vector<float> cos, sin;  // (positions, half)
};
RopeTable make_rope_table(const LlamaConfig& c, std::int64_t positions);

}  // namespace qls
