// The tensors a Llama-family model must have, under their Hugging Face names and PyTorch
// shapes (formats.md §6.2), and the check that loaded weights match them.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "core/model/llama_config.h"
#include "core/model/model_weights.h"
#include "core/util/tensor_view.h"

namespace qls {

struct ExpectedTensor {
    std::string name;
    Shape shape;
    bool linear;  // q/k/v/o/gate/up/down weights: the ones 4-bit quantization applies to
};

// Embeddings, then per layer the norms, attention (with Qwen2's q/k/v biases) and MLP, then
// the final norm and lm_head (only when the embeddings are untied).
std::vector<ExpectedTensor> llama_expected_tensors(const LlamaConfig& c);

// Every expected tensor present with its logical shape (Quantized4bit::shape for 4-bit
// weights), dense ones in a float dtype, 4-bit ones only where `linear`. Throws FormatError
// "<source>: tensor 'x': expected [a, b], got [c, d]" or "<source>: missing tensor 'x'".
void check_model_weights(const LlamaConfig& c, const ModelWeights& w, std::string_view source);

// Tensors of `w` the model does not use (callers may warn); rotary_emb.inv_freq is left out.
std::vector<std::string> unexpected_tensors(const LlamaConfig& c, const ModelWeights& w);

}  // namespace qls
