// What the Playground and Export tests share: an adapter that changes the model's answers,
// and greedy sampling.
#pragma once
#include <cstdint>
#include <random>

#include "core/export/peft_adapter.h"
#include "core/model/lora_parameters.h"
#include "core/model/sampler.h"

namespace qls::test {

// Rank-4 LoRA on every linear layer with small random A and B (B != 0, unlike PEFT's init, so
// the adapter changes the output). `in_scale` 2 gives pairs whose shapes do not fit the model.
inline LoraAdapter random_adapter(const LlamaConfig& c, std::uint32_t seed, std::int64_t in_scale = 1) {
    LoraAdapter adapter;
    adapter.config.rank = 4;
    adapter.config.alpha = 8;
    adapter.base_model = "demo";
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (std::int64_t l = 0; l < c.num_layers; ++l)
        for (LoraTarget t : kAllLoraTargets) {
            auto [in, out] = linear_dims(c, t);
            LoraPair p{in * in_scale, out, 4, {}, {}};
            for (std::int64_t i = 0; i < 4 * p.in; ++i) p.a.push_back(0.3f * normal(rng));
            for (std::int64_t i = 0; i < 4 * p.out; ++i) p.b.push_back(0.3f * normal(rng));
            adapter.modules[lora_module_name(l, t)] = std::move(p);
        }
    return adapter;
}

inline SamplingOptions greedy(std::int64_t max_new) {
    SamplingOptions o;
    o.temperature = 0;
    o.max_new_tokens = max_new;
    return o;
}

}  // namespace qls::test
