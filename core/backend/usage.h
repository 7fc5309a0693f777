// What each byte a backend holds is for; VRAM by category is a sum over these.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

namespace qls {

enum class Usage : std::uint8_t {
    BaseWeights,     // frozen base: 4-bit codes + absmax, or 16-bit, embeddings, norms
    LoraParams,      // trainable LoRA A/B (fp32 master weights)
    LoraGrads,       // their gradients
    OptimizerState,  // AdamW m and v resident on the device (paged)
    Activations,     // tensors kept from forward for backward (layer inputs when checkpointing)
    Workspace,       // scratch reused within a step: recomputed layer, gradients of activations,
                     // logits chunk, dequantized weight
    PagedHost,       // optimizer pages evicted, checkpoints offloaded, the loader's upload staging:
                     // (pinned) host memory, not device memory
};
inline constexpr std::size_t kUsageCount = 7;
inline constexpr std::array<Usage, kUsageCount> kAllUsages = {
    Usage::BaseWeights, Usage::LoraParams,  Usage::LoraGrads, Usage::OptimizerState,
    Usage::Activations, Usage::Workspace,  Usage::PagedHost};

std::string_view usage_name(Usage u);  // "base weights", "LoRA", ...
// Everything but PagedHost lives in device memory.
constexpr bool usage_on_device(Usage u) { return u != Usage::PagedHost; }

}  // namespace qls
