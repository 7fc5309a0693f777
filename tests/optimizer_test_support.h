// Shared by the optimizer and paging tests: toy parameters laid out like LoraParameters' own,
// deterministic gradients, and host copies of values and optimizer state.
#pragma once
#include <random>
#include <string>
#include <vector>

#include "core/train/adamw_optimizer.h"
#include "model_test_support.h"

namespace qls::test {

// Parameters with gradients in plain backend buffers, laid out like LoraParameters' own.
struct ToyParams {
    Buffer values, grads;
    std::vector<LoraParameters::Param> params;

    ToyParams(Backend& be, const std::vector<std::int64_t>& sizes, std::uint64_t seed) {
        BufferPlan plan;
        for (std::int64_t n : sizes) plan.add("p", DType::F32, {n});
        values = plan.allocate(be, Usage::LoraParams, "toy values");
        grads = plan.allocate(be, Usage::LoraGrads, "toy grads");
        std::mt19937 rng(static_cast<std::uint32_t>(seed));
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (std::size_t i = 0; i < sizes.size(); ++i) {
            params.push_back({"layer." + std::to_string(i), plan.tensor(values, i), plan.tensor(grads, i)});
            std::vector<float> v(static_cast<std::size_t>(sizes[i]));
            for (float& x : v) x = u(rng);
            be.copy_from_host(params.back().value, std::as_bytes(std::span(v)));
        }
    }
};

// Gradients that differ per step and per element, the same in every run.
inline void set_grads(Backend& be, const std::vector<LoraParameters::Param>& params, int step) {
    std::mt19937 rng(static_cast<std::uint32_t>(1000 + step));
    std::normal_distribution<float> n(0.0f, 0.5f);
    for (const auto& p : params) {
        std::vector<float> g(static_cast<std::size_t>(p.grad.numel()));
        for (float& x : g) x = n(rng);
        be.copy_from_host(p.grad, std::as_bytes(std::span(g)));
    }
}

inline std::vector<std::vector<float>> all_values(Backend& be, const std::vector<LoraParameters::Param>& ps) {
    std::vector<std::vector<float>> out;
    for (const auto& p : ps) out.push_back(download(be, p.value));
    return out;
}

inline std::vector<std::vector<std::byte>> state_bytes(AdamWOptimizer& opt) {
    std::vector<std::vector<std::byte>> out;
    for (const OwnedTensor& t : opt.export_state()) out.push_back(t.data);
    return out;
}

}  // namespace qls::test
