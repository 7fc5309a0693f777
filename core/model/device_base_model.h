// The frozen base model on a backend: every linear weight dense (its stored 16/32-bit dtype),
// in bitsandbytes 4-bit (quantized on load, or as a pre-quantized checkpoint holds it) or in a
// GGUF file's own quantized blocks; embeddings, norms and lm_head stay dense, as bitsandbytes +
// transformers keep them (formats.md §3, §10). All of it is accounted as Usage::BaseWeights.
//
// Where quantization runs: on the backend, through Backend::quantize_weight. Each weight that is
// quantized on load goes as the loader holds it (16/32-bit; for safetensors a mapping of the
// file), through StagedUpload's pinned host slots on the copy stream (on a GPU the file's next
// pages are read while the previous piece is in flight), into one staging buffer on the backend,
// sized for the largest such weight, and is quantized from there into its final 4-bit arrays:
// with a GPU the host never builds a Quantized4bit (the CPU backend's op does, one weight at a
// time), and the device holds one of these weights dense at a time. The staging buffer
// (Usage::Workspace) is freed when loading ends, and the estimate leaves it out: it stays below
// the layer workspace a quantized base trains with (the largest linear, 4 bytes a weight at
// most, is at most half of a layer's linears, which training holds dequantized at 2 bytes or
// more; test_quantize_weight checks the shapes we ship). Pre-quantized checkpoints and GGUF
// blocks are uploaded as they are, through the same slots.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/staged_upload.h"
#include "core/model/llama_config.h"
#include "core/model/model_loader.h"
#include "core/util/dtype.h"
#include "core/util/progress.h"

namespace qls {

struct BaseWeightsOptions {
    std::optional<QuantType> quant = QuantType::NF4;  // nullopt: keep the linear weights dense
    bool double_quant = true;
    int blocksize = 64;
    // The run's compute dtype (backend.h "Precision"). With BF16 or F16 the embedding and the
    // LM head are held in it, as a GPU GEMM needs them; other dense tensors stay as stored.
    DType compute = DType::F32;
    // A GGUF base's linear weights stored in a block-quantized type (Q4_0, Q4_K, Q8_0, ...) stay
    // in those blocks, so training sees exactly the file's weights; `quant` then applies only to
    // its 16/32-bit linears. false re-quantizes them to `quant`, stacking a second rounding
    // error on the file's.
    bool gguf_blocks = true;
};

// The dtype DeviceBaseModel holds the embedding and LM head in, given how they are stored.
DType head_dtype(DType stored, DType compute);

// "nf4", "fp4" or "none" (a dense base) into `quant`; false for any other name.
bool parse_base_quant(std::string_view name, std::optional<QuantType>& quant);

// Whether the trainer keeps this weight in its GGUF blocks under `options`.
bool keeps_gguf_blocks(const Weight& w, const BaseWeightsOptions& options);

// The GGUF blocks a base keeps its linear weights in under `options`: what the run's labels and
// model card name as its base quantization.
KeptGgufBlocks kept_gguf_blocks(const ModelWeights& weights, const LlamaConfig& config,
                                const BaseWeightsOptions& options);

// How a run holds its base, for logs and model cards: "nf4, blocksize 64, double quant",
// "none (16-bit base)", "the GGUF's own Q4_K, Q6_K blocks", or for a GGUF that stores some
// linear weights in 16/32 bits "the GGUF's own Q8_0 blocks; its other linear weights nf4, ...".
std::string base_quantization_label(const BaseWeightsOptions& options, const KeptGgufBlocks& kept);

struct DeviceLayer {
    Tensor attn_norm, mlp_norm;  // (C)
    LinearWeight q, k, v, o, gate, up, down;
    // A dense base is uploaded stacked: q, k, v (and their biases) are row blocks of qkv, gate
    // and up of gate_up, so the model's one GEMM reads them where they are. Empty (no dense
    // tensor) for a 4-bit base, whose layer the model dequantizes into its workspace.
    LinearWeight qkv, gate_up;
};

// Whether DeviceBaseModel will hold every linear weight dense in the compute dtype, so that the
// model computes with the stacked weights in place, with no per-layer copy (the memory
// estimate asks before anything is loaded).
bool layers_in_compute_dtype(const Model& model, const BaseWeightsOptions& options);

class DeviceBaseModel {
public:
    // A pre-quantized checkpoint keeps its own 4-bit format whatever `options` say.
    DeviceBaseModel(Backend& backend, const Model& model, const BaseWeightsOptions& options,
                    const ProgressFn& progress = {});

    const LlamaConfig& config() const { return m_config; }
    const BaseWeightsOptions& options() const { return m_options; }
    const Tensor& embed() const { return m_embed; }            // (V, C)
    const Tensor& final_norm() const { return m_final_norm; }  // (C)
    const LinearWeight& lm_head() const { return m_lm_head; }  // (V, C); the embedding when tied
    const std::vector<DeviceLayer>& layers() const { return m_layers; }
    bool layers_in_compute_dtype() const { return m_in_place; }

private:
    // `as`: the dtype to hold it in (converted, rounded to nearest even, when it differs).
    Tensor upload_dense(const Weight& w, const std::string& name, std::optional<DType> as = std::nullopt);
    LinearWeight upload_linear(const ModelWeights& weights, const std::string& prefix);
    // Dense linears that share an input, uploaded as one (Σ out, in) tensor: the stacked weight,
    // then each part as a view of its rows.
    LinearWeight upload_stacked(const ModelWeights& weights, std::initializer_list<std::string> prefixes,
                                std::initializer_list<LinearWeight*> parts);
    Tensor upload_bytes(std::span<const std::byte> bytes, DType dtype, Shape shape,
                        const std::string& name);
    // A pre-quantized checkpoint's 4-bit weight, as it is.
    Quant4View upload_quantized(const Quantized4bit& q, const std::string& name);
    // A dense weight through the staging buffer into 4-bit arrays on the backend.
    Quant4View quantize_on_load(const Weight& w, const std::string& name);

    Backend& m_backend;
    LlamaConfig m_config;
    BaseWeightsOptions m_options;
    std::vector<Buffer> m_storage;
    Buffer m_staging;  // while loading: the dense weight being quantized, then its workspace
    std::size_t m_staging_workspace = 0;  // where the workspace starts in m_staging
    Tensor m_embed, m_final_norm;
    LinearWeight m_lm_head;
    std::vector<DeviceLayer> m_layers;
    bool m_in_place = false;
    // While loading: every host byte goes through it. Last, so that a load that throws waits
    // for its transfers before the buffers they write are freed.
    std::unique_ptr<StagedUpload> m_upload;
};

}  // namespace qls
