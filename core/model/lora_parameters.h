// The trainable LoRA tensors of every adapted linear layer on a backend: one LoraParams buffer
// (A and B, fp32 master weights) and one LoraGrads buffer, carved into per-module views.
#pragma once
#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "core/backend/backend.h"
#include "core/model/lora_config.h"
#include "core/model/llama_config.h"

namespace qls {

class LoraParameters {
public:
    // Initialized as PEFT does (formats.md §5): A ~ U(-1/sqrt(in), 1/sqrt(in)) from
    // config.seed, B = 0.
    LoraParameters(Backend& backend, const LlamaConfig& model, const LoraConfig& config);

    // The adapter's tensors (resume, inference with a saved adapter).
    static std::unique_ptr<LoraParameters> from_adapter(Backend& backend, const LlamaConfig& model,
                                                        const LoraAdapter& adapter);
    // Bytes of each of the two buffers (weights, gradients) for `config` on `model`.
    static std::size_t planned_bytes(const LlamaConfig& model, const LoraConfig& config);

    const LoraConfig& config() const { return m_config; }
    // The view of (layer, target), or nullptr when that module is not adapted.
    const LoraView* view(std::int64_t layer, LoraTarget t) const;
    // Every parameter tensor with its gradient, in a fixed order (layer, target, A then B):
    // the optimizer, clipping and checkpoints walk this list.
    struct Param {
        std::string name;  // "model.layers.0.self_attn.q_proj.lora_A"
        Tensor value, grad;
    };
    const std::vector<Param>& params() const { return m_params; }
    std::int64_t parameter_count() const;

    void zero_grads();

    LoraAdapter to_host(const std::string& base_model) const;
    // Loads A/B from an adapter with the same config shape (resume, continue training).
    void from_host(const LoraAdapter& adapter);

private:
    Backend& m_backend;
    LoraConfig m_config;
    Buffer m_values, m_grads;
    std::vector<std::array<std::optional<LoraView>, 7>> m_views;  // [layer][target]
    std::vector<Param> m_params;
};

// (in, out) of a Llama linear layer.
std::pair<std::int64_t, std::int64_t> linear_dims(const LlamaConfig& c, LoraTarget t);

}  // namespace qls
