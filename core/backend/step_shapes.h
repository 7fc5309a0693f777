// The shapes of one training step's ops, for a backend to plan the scratch its own ops take
// beyond their arguments (fp32 copies, converted weights, LoRA intermediates). The memory
// estimate adds what the backend says; the model reserves it when it plans its buffers, so a
// step never grows it and the estimate stays the measured peak on every backend.
#pragma once
#include <cstdint>
#include <vector>

#include "core/backend/tensor.h"

namespace qls {

// One linear of the step, as the model calls it in forward and backward.
struct LinearCallShape {
    std::int64_t rows = 0;      // x's rows in one call (N, an MLP chunk's, a logits chunk's)
    std::int64_t in = 0, out = 0;
    std::int64_t ranks = 0;     // Σ r of its adapters; 0: none
    bool dropout = false;       // an adapter drops inputs
    bool keeps_xa = false;      // the caller keeps every adapter's x·Aᵀ (lora_xa)
    bool dx = true;             // backward computes the input's gradient
    DType weight = DType::F32;  // the base weight as the op receives it (dense: in the compute
                                // dtype for layers, as held for the LM head)
    bool layer = true;          // a decoder layer's (else the LM head)
};

struct StepShapes {
    DType compute = DType::F32;
    std::int64_t rows = 0;         // N
    std::int64_t mlp_rows = 0;     // of an MLP chunk
    std::int64_t logits_rows = 0;  // of a logits chunk
    std::int64_t hidden = 0, intermediate = 0, q_dim = 0, kv_dim = 0, vocab = 0;
    // The layers' weights reach the ops as the base holds them (no dequantize_weight per layer).
    bool layer_weights_in_place = false;
    std::vector<LinearCallShape> linears;  // q|k|v, o, gate|up, down, the LM head
};

}  // namespace qls
