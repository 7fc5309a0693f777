// The floating-point work of one QLoRA training step, counted as ../shared/bench/peer_qlora.py's
// flop_model counts it, so that our utilisation and the peer's divide the same numerator.
//
// N_layers = L·(C·q + 2·C·kv + q·C + 3·C·I)   frozen linear parameters of the decoder layers
// N        = N_layers + C·V                   ... plus the LM head
// A        = B·L·2·T²·q                       attention forward: QKᵀ and P·V are 2·2·T²·q each
//                                             per sequence and layer, halved by the causal mask
// useful   = 4·N·B·T + 3·A                    forward 2·N per token, backward 2·N per token for
//                                             the input gradient only (the 4-bit base gets no
//                                             weight gradient); attention backward is 2 × forward
// hardware = useful + 2·N_layers·B·T + A      gradient checkpointing runs each layer's forward
//                                             again before its backward
// LoRA's own GEMMs (rank r ≪ C) and the elementwise ops are left out of both, as the peer does:
// 6·(trained parameters) would count weight gradients the frozen base never gets.
// B micro-batch, T tokens, L layers, C hidden, I intermediate, q = Hq·D, kv = Hkv·D, V vocab.
#pragma once
#include <cstdint>

#include "core/model/llama_config.h"

namespace qls {

struct StepFlops {
    double linear_params = 0;        // N
    double layer_linear_params = 0;  // N_layers
    double attention_forward = 0;    // A
    double useful = 0;
    double hardware = 0;
};

StepFlops step_flops(const LlamaConfig& config, std::int64_t micro_batch, std::int64_t seq_len);

}  // namespace qls
