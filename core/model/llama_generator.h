// Inference with a KV cache: the same decoder-layer math as llama_layer.cpp (formats.md §6.3,
// HF LlamaDecoderLayer), but each call runs only the new tokens, and their keys and values
// stay in a per-layer cache that later tokens attend to (Backend::attention_decode). Batch 1.
// LoRA, when given, is applied as in training without dropout (PEFT in eval mode).
//
// P max context, Tc prefill chunk, C hidden, I intermediate, Hq/Hkv heads, D head dim, V vocab.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/backend/backend.h"
#include "core/model/device_base_model.h"
#include "core/model/lora_parameters.h"

namespace qls {

class LlamaGenerator {
public:
    // Allocates the cache for max_context tokens (Usage::Activations) and the scratch for
    // prefill_chunk tokens at once (Usage::Workspace; 0: min(max_context, 512)). Longer
    // prompts run chunk by chunk. base and lora must outlive the generator.
    LlamaGenerator(Backend& backend, const DeviceBaseModel& base, const LoraParameters* lora,
                   std::int64_t max_context, std::int64_t prefill_chunk = 0);

    // Forgets the cache, runs `ids` from position 0 and returns the (V) logits of the last one.
    std::vector<float> prefill(std::span<const int> ids);
    // Runs `ids` after the cached tokens; returns the logits of the last one.
    std::vector<float> append(std::span<const int> ids);
    // One token after the cached ones: its logits, predicting the next token.
    std::vector<float> step(int token);
    void reset() { m_position = 0; }

    std::int64_t position() const { return m_position; }  // tokens in the cache
    std::int64_t max_context() const { return m_max_context; }
    const LlamaConfig& config() const { return m_base.config(); }

private:
    struct Scratch {
        Tensor x;             // (Tc, C) residual stream
        Tensor norm, rstd;    // (Tc, C), (Tc)
        Tensor q, att;        // (Tc, Hq·D)
        Tensor tmp;           // (Tc, C) attention / MLP output before the residual add
        Tensor gate, up, act; // (Tc, I)
        Tensor tokens, positions;  // (Tc) I32
        Tensor logits;        // (1, V)
        Tensor rope_cos, rope_sin;  // (P, D/2)
    };
    struct Cache {
        Tensor k, v;  // (1, P, Hkv, D), keys after RoPE
    };

    void plan_buffers();
    void run_chunk(std::span<const int> ids);
    void layer_forward(std::int64_t l, std::int64_t n);
    std::vector<float> last_logits(std::int64_t n);
    void linear(std::int64_t l, LoraTarget t, const Tensor& in, const LinearWeight& w,
                const Tensor& out) const;

    Backend& m_backend;
    const DeviceBaseModel& m_base;
    const LoraParameters* m_lora;
    std::int64_t m_max_context = 0, m_chunk = 0;
    std::int64_t m_position = 0;  // tokens already in the cache
    Buffer m_cache_buffer, m_work_buffer;
    std::vector<Cache> m_cache;   // one per layer
    Scratch m_s;
};

}  // namespace qls
